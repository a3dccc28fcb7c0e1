"""RFC 8705 §2 mutual-TLS client authentication.

``tls_client_auth`` (§2.1): the TLS terminator validated the certificate chain against
the operator's CA; the client is who its certificate names. It registered exactly one
expected name (§2.1.2): the subject DN (RFC 4514, compared as a parsed name, not as
text) or one subject alternative name of type DNS, URI, IP address or e-mail.

``self_signed_tls_client_auth`` (§2.2): no CA; the certificate's public key must be one
of the client's registered keys (``jwks`` or ``jwks_uri``), so the client proves
possession of that key in the TLS handshake.

The certificate reaches this module only from the TLS connection or from a trusted
proxy's header (web/client_cert.py): a header from any other peer is never read.
"""

from __future__ import annotations

import ipaddress
from typing import Final
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tollhouse.errors import InvalidClient
from tollhouse.models import AuthMethod, Client
from tollhouse.protocol.client_jws import ClientKeys
from tollhouse.resource.mtls import MAX_PEM_LENGTH

NAME_KINDS: Final = ("subject_dn", "san_dns", "san_uri", "san_ip", "san_email")
"""The RFC 8705 §2.1.2 metadata, ``tls_client_auth_<kind>``; a client registers one."""
MTLS_METHODS: Final = frozenset(
    {AuthMethod.TLS_CLIENT_AUTH, AuthMethod.SELF_SIGNED_TLS_CLIENT_AUTH}
)


def load_certificate(pem: str) -> x509.Certificate:
    """The leaf certificate of ``pem`` (URL-encoded PEM too, as nginx escapes it)."""
    if "%" in pem:
        pem = unquote(pem)
    if len(pem) > MAX_PEM_LENGTH:
        raise InvalidClient("The client certificate is too large.")
    try:
        return x509.load_pem_x509_certificate(pem.encode("latin-1"))
    except (ValueError, UnicodeError):
        raise InvalidClient("The client certificate cannot be read.") from None


def check_name(kind: str, value: str) -> str:
    """A registered expected name, normalised; ``ValueError`` if it is not one."""
    if kind not in NAME_KINDS:
        raise ValueError(f"unknown kind {kind}")
    value = value.strip()
    if not value or len(value) > 1024:
        raise ValueError("the name is empty or too long")
    try:
        if kind == "subject_dn":
            return x509.Name.from_rfc4514_string(value).rfc4514_string()
        if kind == "san_ip":
            return str(ipaddress.ip_address(value))
    except ValueError:
        what = "an RFC 4514 distinguished name" if kind == "subject_dn" else "an IP address"
        raise ValueError(f"{value[:80]!r} is not {what}") from None
    return value


def names_client(certificate: x509.Certificate, kind: str, expected: str) -> bool:
    """RFC 8705 §2.1.2: the certificate carries the client's registered name."""
    if kind == "subject_dn":
        try:
            wanted = x509.Name.from_rfc4514_string(expected)
        except ValueError:
            return False
        return certificate.subject == wanted
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return False
    if kind == "san_ip":
        found = [str(ip) for ip in sans.value.get_values_for_type(x509.IPAddress)]
        return str(ipaddress.ip_address(expected)) in found
    values: list[str]
    if kind == "san_dns":
        values = sans.value.get_values_for_type(x509.DNSName)
    elif kind == "san_uri":
        values = sans.value.get_values_for_type(x509.UniformResourceIdentifier)
    else:
        values = sans.value.get_values_for_type(x509.RFC822Name)
    if kind == "san_uri":
        return expected in values
    return expected.lower() in (v.lower() for v in values)


def _spki(key: object) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined, no-any-return]


async def verify(client: Client, certificate_pem: str | None, keys: ClientKeys | None) -> None:
    """Raise ``invalid_client`` unless the presented certificate authenticates
    ``client`` by its registered mTLS method."""
    if certificate_pem is None:
        raise InvalidClient(
            f"This client authenticates with {client.token_endpoint_auth_method}: connect "
            "with its TLS client certificate (RFC 8705 section 2).",
            debug="no client certificate",
        )
    certificate = load_certificate(certificate_pem)
    if client.token_endpoint_auth_method == AuthMethod.TLS_CLIENT_AUTH:
        kind, expected = client.tls_client_auth_kind, client.tls_client_auth_name
        if kind is None or expected is None or not names_client(certificate, kind, expected):
            raise InvalidClient(
                "Client authentication failed: the certificate does not carry the client's "
                "registered name.",
                debug="certificate name mismatch",
            )
        return
    if keys is None:
        raise InvalidClient("self_signed_tls_client_auth is not enabled on this server.")
    presented = _spki(certificate.public_key())
    registered = await keys.keys_of(client)
    if not any(_spki(key.public_key) == presented for key in registered):
        registered = await keys.keys_of(client, refresh=True)
        if not any(_spki(key.public_key) == presented for key in registered):
            raise InvalidClient(
                "Client authentication failed: the certificate's key is not one of the "
                "client's registered keys.",
                debug="certificate key mismatch",
            )
