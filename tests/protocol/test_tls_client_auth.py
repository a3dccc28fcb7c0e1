"""RFC 8705 §2.1.2 name matching and the registration rules of the mTLS methods."""

from __future__ import annotations

import datetime
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.protocol.conftest import World
from tests.protocol.endpoints.test_registration import BODY, INITIAL, add_initial, raw
from tollhouse.errors import InvalidClientMetadata
from tollhouse.protocol.client_key_metadata import key_metadata
from tollhouse.protocol.tls_client_auth import check_name, names_client


def certificate(subject: str, *names: x509.GeneralName) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string(subject))
        .issuer_name(x509.Name.from_rfc4514_string(subject))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    return builder.sign(key, hashes.SHA256())


CERT = certificate(
    "CN=meter-7,O=Grid",
    x509.DNSName("meter-7.devices.example"),
    x509.UniformResourceIdentifier("spiffe://grid/meter-7"),
    x509.IPAddress(ipaddress.ip_address("2001:db8::7")),
    x509.RFC822Name("meter-7@grid.example"),
)


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("subject_dn", "CN=meter-7,O=Grid", True),
        ("subject_dn", "CN=meter-7,O=Grid2", False),
        ("subject_dn", "O=Grid,CN=meter-7", False),  # RDN order is part of the name
        ("san_dns", "METER-7.devices.example", True),
        ("san_dns", "meter-8.devices.example", False),
        ("san_uri", "spiffe://grid/meter-7", True),
        ("san_uri", "spiffe://grid/meter-", False),
        ("san_ip", "2001:db8:0::7", True),
        ("san_ip", "2001:db8::8", False),
        ("san_email", "meter-7@grid.example", True),
        ("san_email", "meter-8@grid.example", False),
    ],
)
def test_names(kind: str, value: str, expected: bool) -> None:
    assert names_client(CERT, kind, value) is expected


def test_a_certificate_without_sans_names_no_san() -> None:
    assert not names_client(certificate("CN=x"), "san_dns", "x")


def test_registered_names_are_normalised_or_refused() -> None:
    assert check_name("san_ip", "2001:db8:0::7") == "2001:db8::7"
    with pytest.raises(ValueError, match="RFC 4514"):
        check_name("subject_dn", "not a dn")


@pytest.mark.parametrize(
    ("body", "method", "message"),
    [
        ({}, "tls_client_auth", "exactly one"),
        (
            {"tls_client_auth_san_dns": "a.example", "tls_client_auth_san_uri": "urn:x"},
            "tls_client_auth",
            "exactly one",
        ),
        ({"tls_client_auth_san_dns": 5}, "tls_client_auth", "tls_client_auth_san_dns"),
        ({"tls_client_auth_san_dns": "a.example"}, "client_secret_basic", "only for"),
        ({}, "self_signed_tls_client_auth", "jwks"),
    ],
)
def test_registration_rules(body: dict[str, object], method: str, message: str) -> None:
    with pytest.raises(InvalidClientMetadata, match=message):
        key_metadata(body, method)


def test_registration_keeps_the_one_name() -> None:
    keys = key_metadata({"tls_client_auth_subject_dn": "CN=a,O=b"}, "tls_client_auth")
    assert (keys.tls_client_auth_kind, keys.tls_client_auth_name) == ("subject_dn", "CN=a,O=b")


async def test_rfc7591_registration_of_a_tls_client_auth_client(world: World) -> None:
    await add_initial(world)
    body = {
        **BODY,
        "grant_types": ["client_credentials"],
        "redirect_uris": [],
        "token_endpoint_auth_method": "tls_client_auth",
        "tls_client_auth_san_dns": "meter-7.devices.example",
    }
    body.pop("response_types", None)
    result = await world.provider.registration.register(raw(body), f"Bearer {INITIAL}")
    assert result.status == 201, result.body
    assert "client_secret" not in result.body
    assert result.body["tls_client_auth_san_dns"] == "meter-7.devices.example"
    stored = await world.storage.get_client(result.body["client_id"])
    assert stored is not None and stored.uses_certificate and stored.secret_hash is None
    assert stored.tls_client_auth_kind == "san_dns"
