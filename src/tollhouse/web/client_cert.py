"""The client's TLS certificate, for RFC 8705 §3 certificate-bound access tokens.

Behind a proxy that terminates TLS the certificate comes in a header
(``TOLLHOUSE_TLS_CLIENT_CERT_HEADER``; nginx: ``$ssl_client_escaped_cert``, the PEM
URL-encoded). Anyone can send that header, so it is believed only when the TCP peer is
one of ``TOLLHOUSE_TRUSTED_PROXIES`` (``state["trusted_peer"]``, web/proxy.py): from any
other peer it is ignored, as if no certificate had been presented. A server that
terminates TLS itself may find the chain in the ASGI TLS extension.
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.types import Scope

from tollhouse.errors import InvalidRequest

MAX_PEM_LENGTH = 16 * 1024


def certificate_thumbprint(scope: Scope, header: str | None) -> str | None:
    """RFC 8705 §3.1 ``x5t#S256``: base64url SHA-256 of the certificate's DER, or None
    when no certificate was presented (or it came from an untrusted peer)."""
    pem = _from_tls_extension(scope)
    if pem is None and header and scope.get("state", {}).get("trusted_peer"):
        name = header.lower().encode("latin-1")
        values = [v for k, v in scope["headers"] if k == name]
        if len(values) > 1:
            raise InvalidRequest("More than one client certificate header.")
        pem = unquote(values[0].decode("latin-1")) if values and values[0] else None
    if not pem:
        return None
    if len(pem) > MAX_PEM_LENGTH:
        raise InvalidRequest("The client certificate is too large.")
    try:
        der = x509.load_pem_x509_certificate(pem.encode("latin-1")).public_bytes(Encoding.DER)
    except ValueError:
        raise InvalidRequest("The client certificate cannot be read.") from None
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def _from_tls_extension(scope: Scope) -> str | None:
    """The ASGI TLS extension's ``client_cert_chain`` (PEM strings, leaf first)."""
    chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain")
    if isinstance(chain, list | tuple) and chain and isinstance(chain[0], str):
        return chain[0]
    return None
