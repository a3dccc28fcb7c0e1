"""The client's TLS certificate, for RFC 8705 §3 certificate-bound access tokens.

Behind a proxy that terminates TLS the certificate comes in a header
(``TOLLHOUSE_TLS_CLIENT_CERT_HEADER``; nginx: ``$ssl_client_escaped_cert``, the PEM
URL-encoded). Anyone can send that header, so it is believed only when the TCP peer is
one of ``TOLLHOUSE_TRUSTED_PROXIES`` (``state["trusted_peer"]``, web/proxy.py): from any
other peer it is ignored, as if no certificate had been presented. A server that
terminates TLS itself may find the chain in the ASGI TLS extension.
"""

from __future__ import annotations

from starlette.types import Scope

from tollhouse.errors import InvalidRequest
from tollhouse.resource.mtls import pem_thumbprint, tls_extension_certificate


def certificate_thumbprint(scope: Scope, header: str | None) -> str | None:
    """RFC 8705 §3.1 ``x5t#S256`` of the request's client certificate, or None when none
    was presented (or it came from an untrusted peer)."""
    pem = client_certificate(scope, header)
    if not pem:
        return None
    try:
        return pem_thumbprint(pem)
    except ValueError:
        raise InvalidRequest("The client certificate cannot be read.") from None


def client_certificate(scope: Scope, header: str | None) -> str | None:
    """The PEM (perhaps URL-encoded) of the request's client certificate, or None."""
    pem = tls_extension_certificate(scope)
    if pem is None and header and scope.get("state", {}).get("trusted_peer"):
        name = header.lower().encode("latin-1")
        values = [v for k, v in scope["headers"] if k == name]
        if len(values) > 1:
            raise InvalidRequest("More than one client certificate header.")
        pem = values[0].decode("latin-1") if values and values[0] else None
    return pem or None
