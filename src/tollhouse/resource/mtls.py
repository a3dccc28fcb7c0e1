"""RFC 8705 §3 certificate-bound access tokens: the ``x5t#S256`` of a client certificate
and the check that a token's ``cnf`` names the certificate the request came with."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

MAX_PEM_LENGTH: Final = 16 * 1024
X5T: Final = "x5t#S256"


def pem_thumbprint(pem: str) -> str:
    """base64url SHA-256 of the certificate's DER (RFC 8705 §3.1); ``ValueError`` if
    ``pem`` is not one PEM certificate (or is URL-encoded PEM, as nginx escapes it)."""
    if "%" in pem:
        pem = unquote(pem)
    if len(pem) > MAX_PEM_LENGTH:
        raise ValueError("the client certificate is too large")
    der = x509.load_pem_x509_certificate(pem.encode("latin-1")).public_bytes(Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def tls_extension_certificate(scope: Mapping[str, Any]) -> str | None:
    """The leaf of the ASGI TLS extension's ``client_cert_chain`` (a server terminating
    TLS itself and supporting the extension fills it), else None."""
    chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain")
    if isinstance(chain, list | tuple) and chain and isinstance(chain[0], str):
        return chain[0]
    return None


def certificate_bound(claims: Mapping[str, Any]) -> str | None:
    cnf = claims.get("cnf")
    x5t = cnf.get(X5T) if isinstance(cnf, dict) else None
    return x5t if isinstance(x5t, str) else None


def presents(claims: Mapping[str, Any], certificate: str | None) -> bool:
    """Whether a request with ``certificate`` (its thumbprint) may use this token."""
    x5t = certificate_bound(claims)
    if x5t is None:
        return True
    return certificate is not None and hmac.compare_digest(certificate, x5t)
