"""The TLS certificate: parses, in date, matches its key, covers the issuer host."""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tollhouse.config import load_settings
from tollhouse.diagnostics.findings import Finding, Level
from tollhouse.diagnostics.tls_checks import check_certificate, check_tls, covers
from tollhouse.security.tls import ensure_self_signed

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def certificate(
    names: list[str],
    *,
    days: int = 365,
    start: datetime.datetime = NOW - datetime.timedelta(days=1),
    key: ec.EllipticCurvePrivateKey = KEY,
    ips: tuple[str, ...] = (),
) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "x")])
    alt = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
    )
    if alt:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return builder.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def pem(key: ec.EllipticCurvePrivateKey = KEY) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def levels(found: list[Finding]) -> list[Level]:
    return [f.level for f in found]


def test_valid_certificate_covering_the_issuer_host_is_ok() -> None:
    found = check_certificate(
        certificate(["idp.example.test"]), pem(), "idp.example.test", NOW, "c"
    )
    assert levels(found) == [Level.OK]


def test_expired_certificate_is_an_error() -> None:
    start = NOW - datetime.timedelta(days=400)
    found = check_certificate(
        certificate(["idp.example.test"], start=start), pem(), "idp.example.test", NOW, "c"
    )
    assert "expired on" in found[0].what and found[0].level is Level.ERROR


def test_certificate_expiring_within_30_days_is_a_warning() -> None:
    found = check_certificate(
        certificate(["idp.example.test"], days=20), pem(), "idp.example.test", NOW, "c"
    )
    assert levels(found) == [Level.WARNING]
    assert "(in 19 days)" in found[0].what


def test_not_yet_valid_certificate_is_an_error() -> None:
    start = NOW + datetime.timedelta(days=2)
    found = check_certificate(
        certificate(["idp.example.test"], start=start), pem(), "idp.example.test", NOW, "c"
    )
    assert "not valid before" in found[0].what


def test_certificate_not_matching_the_key_is_an_error() -> None:
    found = check_certificate(
        certificate(["idp.example.test"]), pem(OTHER_KEY), "idp.example.test", NOW, "c"
    )
    assert [f.what for f in found if f.level is Level.ERROR] == [
        "c does not match the TLS private key"
    ]


def test_certificate_for_another_host_is_an_error() -> None:
    found = check_certificate(
        certificate(["other.example.test"]), pem(), "idp.example.test", NOW, "c"
    )
    assert "does not cover the issuer host idp.example.test" in found[0].what


def test_certificate_without_subject_alt_name_is_an_error() -> None:
    found = check_certificate(certificate([]), pem(), "x", NOW, "c")
    assert "no subjectAltName" in found[0].what


def test_garbage_is_not_a_certificate() -> None:
    assert "is not a PEM certificate" in check_certificate(b"nope", None, "x", NOW, "c")[0].what


@pytest.mark.parametrize(
    ("names", "ips", "host", "covered"),
    [
        (["*.example.test"], [], "idp.example.test", True),
        (["*.example.test"], [], "a.b.example.test", False),
        (["*.example.test"], [], "example.test", False),
        (["IDP.example.test"], [], "idp.example.test", True),
        ([], ["127.0.0.1"], "127.0.0.1", True),
        ([], ["::1"], "[::1]", True),
        (["127.0.0.1"], [], "127.0.0.1", False),
    ],
)
def test_host_coverage_follows_rfc_6125(
    names: list[str], ips: list[str], host: str, covered: bool
) -> None:
    assert covers(names, ips, host) is covered


def test_self_signed_localhost_pair_made_by_serve_is_recognised(tmp_path: Path) -> None:
    ensure_self_signed(tmp_path)
    settings = load_settings(data_dir=tmp_path)
    now = datetime.datetime.now(datetime.UTC)
    found = check_tls(settings, now, "localhost")
    assert levels(found) == [Level.OK]
    assert "self-signed: fine on this machine" in found[0].what
    public = check_tls(load_settings(data_dir=settings.data_dir), now, "idp.example.test")
    assert any("self-signed: every client must be told" in f.what for f in public)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_readable_tls_key_is_a_warning(tmp_path: Path) -> None:
    _, key, _ = ensure_self_signed(tmp_path)
    key.chmod(0o644)
    found = check_tls(
        load_settings(data_dir=tmp_path), datetime.datetime.now(datetime.UTC), "localhost"
    )
    assert any("has mode 0644" in f.what for f in found)


def test_plain_http_needs_no_certificate(tmp_path: Path) -> None:
    found = check_tls(load_settings(data_dir=tmp_path, insecure_http=True), NOW, "127.0.0.1")
    assert levels(found) == [Level.OK]
