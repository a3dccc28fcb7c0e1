"""The TLS client certificate of a connection ``tollhouse serve`` terminates itself
(RFC 8705), handed to the app as the ASGI TLS extension's ``client_cert_chain``.

uvicorn does not fill that extension, so the protocol records the peer certificate
when the connection is made (from the public ``ssl_object`` of the asyncio transport,
the handshake already done) under the connection's peer address, and the pipeline
adds it to the scope of each request whose ``client`` is that address. The certificate
was verified against ``TOLLHOUSE_TLS_CLIENT_CA`` during the handshake; it is unrelated
to any header, which only a trusted proxy is believed on (web/client_cert.py).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Final

from starlette.types import Scope

Peer = tuple[str, int]
_certificates: Final[dict[Peer, str]] = {}


def remember(transport: asyncio.BaseTransport) -> Peer | None:
    """Record the connection's client certificate, if it presented one."""
    ssl_object = transport.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    peername = transport.get_extra_info("peername")
    if not der or not isinstance(peername, tuple) or len(peername) < 2:
        return None
    peer = (str(peername[0]), int(peername[1]))
    _certificates[peer] = ssl.DER_cert_to_PEM_cert(der)
    return peer


def forget(peer: Peer | None) -> None:
    if peer is not None:
        _certificates.pop(peer, None)


def add_tls_extension(scope: Scope) -> None:
    """Put the connection's client certificate in ``scope["extensions"]["tls"]``."""
    if not _certificates:
        return
    client = scope.get("client")
    if not client:
        return
    pem = _certificates.get((str(client[0]), int(client[1])))
    if pem is not None:
        extensions = scope.setdefault("extensions", {})
        extensions["tls"] = {**extensions.get("tls", {}), "client_cert_chain": [pem]}
