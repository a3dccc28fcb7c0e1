"""The TLS certificate ``serve`` would use: present, parses, in date (warning within 30
days of expiry), matches its private key and covers the issuer's host (RFC 6125 §6.4:
subjectAltName DNS names, one-label wildcards, and IP addresses; the CN is ignored).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tollhouse.config import Settings
from tollhouse.diagnostics.findings import Finding, Level, error, ok, warning
from tollhouse.hosts import is_loopback

CHECK = "tls"
EXPIRY_WARNING = datetime.timedelta(days=30)
MAX_PEM_BYTES = 1024 * 1024


def check_tls(settings: Settings, now: datetime.datetime, issuer_host: str) -> list[Finding]:
    """Read the configured (or self-signed) certificate and key and judge them."""
    if settings.insecure_http:
        return [ok(CHECK, "not used: plain HTTP development mode (--insecure-http)")]
    cert_path, key_path = settings.tls_cert, settings.tls_key
    if cert_path is None or key_path is None:
        cert_path = settings.data_dir / "tls" / "localhost.crt"
        key_path = settings.data_dir / "tls" / "localhost.key"
        if not cert_path.is_file() or not key_path.is_file():
            return [
                ok(
                    CHECK,
                    f"no certificate yet; `tollhouse serve` creates a self-signed one "
                    f"for localhost in {cert_path.parent}",
                )
            ]
    cert_pem = _read(cert_path)
    if cert_pem is None:
        return [
            error(
                CHECK,
                f"certificate {cert_path} cannot be read",
                "check --tls-cert / TOLLHOUSE_TLS_CERT and the file's permissions",
            )
        ]
    key_pem = _read(key_path)
    if key_pem is None:
        return [
            error(
                CHECK,
                f"private key {key_path} cannot be read",
                "check --tls-key / TOLLHOUSE_TLS_KEY and the file's permissions",
            )
        ]
    found = check_certificate(cert_pem, key_pem, issuer_host, now, str(cert_path))
    mode = stat.S_IMODE(os.stat(key_path).st_mode)
    if mode & 0o077:
        found.append(
            warning(
                CHECK,
                f"private key {key_path} has mode {mode:04o}: others on this machine can read it",
                f"chmod 600 {key_path}",
            )
        )
    return found


def check_certificate(
    cert_pem: bytes, key_pem: bytes | None, issuer_host: str, now: datetime.datetime, label: str
) -> list[Finding]:
    """Judge a PEM certificate chain (leaf first) and its PEM private key."""
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        return [
            error(
                CHECK,
                f"{label} is not a PEM certificate",
                "give --tls-cert a PEM file (leaf first, then intermediates)",
            )
        ]
    leaf = chain[0]
    found: list[Finding] = []
    found.extend(_validity(leaf, now, label))
    if key_pem is not None:
        found.extend(_key_match(leaf, key_pem, label))
    found.extend(_coverage(leaf, issuer_host, label))
    self_signed = len(chain) == 1 and leaf.issuer == leaf.subject
    if self_signed and not is_loopback(issuer_host):
        found.append(
            warning(
                CHECK,
                f"{label} is self-signed: every client must be told to trust it",
                "use a certificate from a CA your clients trust (e.g. ACME) in production",
            )
        )
    if not any(f.level is not Level.OK for f in found):
        until = leaf.not_valid_after_utc.strftime("%Y-%m-%d")
        note = " (self-signed: fine on this machine)" if self_signed else ""
        found.append(ok(CHECK, f"{label} is valid until {until} and covers {issuer_host}{note}"))
    return found


def _validity(leaf: x509.Certificate, now: datetime.datetime, label: str) -> list[Finding]:
    start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if now < start:
        return [
            error(
                CHECK,
                f"{label} is not valid before {start:%Y-%m-%d %H:%M} UTC",
                "check this machine's clock, or wait",
            )
        ]
    if now >= end:
        return [
            error(
                CHECK,
                f"{label} expired on {end:%Y-%m-%d}",
                "renew the certificate and restart the server",
            )
        ]
    if end - now < EXPIRY_WARNING:
        days = (end - now).days
        return [
            warning(
                CHECK,
                f"{label} expires on {end:%Y-%m-%d} (in {days} days)",
                "renew it now",
            )
        ]
    return []


def _key_match(leaf: x509.Certificate, key_pem: bytes, label: str) -> list[Finding]:
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return [
            error(
                CHECK,
                "the TLS private key is not an unencrypted PEM private key",
                "give --tls-key an unencrypted PEM key (PKCS#8 or traditional)",
            )
        ]
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        return [
            error(
                CHECK,
                f"{label} does not match the TLS private key",
                "pair the certificate with the key it was issued for",
            )
        ]
    return []


def _coverage(leaf: x509.Certificate, host: str, label: str) -> list[Finding]:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [
            error(
                CHECK,
                f"{label} has no subjectAltName; clients ignore the CN (RFC 6125 §6.4.4)",
                "issue a certificate with a DNS subjectAltName for the issuer host",
            )
        ]
    names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    addresses = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    if covers(names, addresses, host):
        return []
    listed = ", ".join([*names, *addresses]) or "nothing"
    return [
        error(
            CHECK,
            f"{label} does not cover the issuer host {host} (it covers {listed})",
            "issue a certificate for the issuer host, or set --issuer to a host it covers",
        )
    ]


def covers(dns_names: list[str], addresses: list[str], host: str) -> bool:
    """RFC 6125 §6.4.3: exact DNS match (case-insensitive) or a leftmost ``*`` label."""
    host = host.strip("[]").lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        return any(ipaddress.ip_address(a) == ip for a in addresses)
    for name in (n.lower().rstrip(".") for n in dns_names):
        if name == host:
            return True
        if name.startswith("*.") and "." in host:
            label, _, rest = host.partition(".")
            if label and rest == name[2:]:
                return True
    return False


def _read(path: Path) -> bytes | None:
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_PEM_BYTES)
    except OSError:
        return None
