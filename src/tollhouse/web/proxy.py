"""Behind a reverse proxy: ``X-Forwarded-For`` / ``X-Forwarded-Proto`` from trusted peers.

Step 1 of the request pipeline (web/pipeline.py). The headers are honoured only when the
TCP peer is one of ``TOLLHOUSE_TRUSTED_PROXIES`` (IPs or CIDR networks); from anyone else
they are ignored, since a client can send any header it likes (RFC 7239 §8.1 warns the
same of ``Forwarded``). The client IP is the rightmost ``X-Forwarded-For`` hop that is
not itself a trusted proxy, so a client cannot pick its own address by prepending hops.

The outcome, for everything after it:

- ``scope["state"]["client_ip"]``: the effective client IP (logs, rate limits);
- ``scope["state"]["peer_ip"]``: the TCP peer, whatever the headers say;
- ``scope["state"]["trusted_peer"]``: whether that peer is a trusted proxy (whose
  forwarding headers, and a client certificate header, are believed);
- ``scope["client"]`` rewritten to the effective client IP (as uvicorn's own proxy
  middleware does), and ``scope["scheme"]`` set from a trusted ``X-Forwarded-Proto``,
  so HSTS and URLs follow the scheme the browser used.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(text: str | None) -> tuple[Network, ...]:
    """``"127.0.0.1, 10.0.0.0/8 ::1"`` → networks; raises ``ValueError`` on a bad entry."""
    if not text:
        return ()
    networks: list[Network] = []
    for item in text.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
    return tuple(networks)


PEER_CACHE_SIZE = 4096


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _header_values(scope: Scope, name: bytes) -> list[str]:
    """Every comma-separated item of every ``name`` header, in order."""
    items: list[str] = []
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            items.extend(part.strip() for part in value.decode("latin-1").split(","))
    return [item for item in items if item]


class TrustedProxies:
    """Settles who the client is (module docstring)."""

    def __init__(self, trusted: Iterable[Network] = ()) -> None:
        self.trusted = tuple(trusted)
        self._peers: dict[str, tuple[Address | None, str | None]] = {}

    def is_trusted(self, address: Address) -> bool:
        return any(address in network for network in self.trusted)

    def resolve(self, scope: Scope) -> None:
        """Settle the client IP (``state["client_ip"]``, and ``client`` when forwarded)
        and the scheme of an HTTP request."""
        client = scope.get("client")
        peer = client[0] if client else None
        peer_address, peer_text = self._peer_address(peer) if peer else (None, None)
        client_ip = peer_text if peer_address else peer
        proxied = False
        if peer_address is not None and self.trusted and self.is_trusted(peer_address):
            proxied = True
            client_ip = self._forwarded_client(scope, str(peer_text))
            proto = _header_values(scope, b"x-forwarded-proto")
            if proto and proto[-1].lower() in ("http", "https"):
                scope["scheme"] = proto[-1].lower()  # the nearest proxy's hop
            if client_ip != peer_text:
                scope["client"] = (client_ip, 0)
        state = scope.setdefault("state", {})
        state["client_ip"] = client_ip
        state["peer_ip"] = peer
        state["trusted_peer"] = proxied

    def _peer_address(self, peer: str) -> tuple[Address | None, str | None]:
        """:func:`_address` and its canonical text, remembered: the same few peers
        (clients, the proxy) connect again and again, and ``str()`` of an address is not
        free either. Bounded: cleared when it holds ``PEER_CACHE_SIZE`` entries."""
        try:
            return self._peers[peer]
        except KeyError:
            pass
        if len(self._peers) >= PEER_CACHE_SIZE:
            self._peers.clear()
        address = _address(peer)
        known = self._peers[peer] = (address, None if address is None else str(address))
        return known

    def _forwarded_client(self, scope: Scope, peer: str) -> str:
        """Walk ``X-Forwarded-For`` from the right while hops are trusted proxies."""
        client_ip = peer
        for hop in reversed(_header_values(scope, b"x-forwarded-for")):
            address = _address(hop)
            if address is None:
                break  # garbage (``unknown``, a port): keep the last hop we could read
            client_ip = str(address)
            if not self.is_trusted(address):
                break
        return client_ip
