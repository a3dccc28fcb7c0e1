"""Which URLs the server may fetch: the outbound-URL guard against SSRF (issue 21).

Every URL Tollhouse requests on someone else's behalf — a client's
``backchannel_logout_uri`` today, a ``jwks_uri`` next — passes this guard twice:

- when it is registered over HTTP (RFC 7591 / RFC 7592): :meth:`OutboundGuard.check_url`
  refuses internal targets by their literal address or name, and by the addresses the
  name resolves to now (within :data:`RESOLVE_TIMEOUT`; a name that does not resolve
  yet is accepted, since it is checked again below);
- when it is fetched: :meth:`OutboundGuard.addresses` resolves the host, checks every
  address, and the connection goes to an address it returned
  (:mod:`tollhouse.security.safe_fetch` does this), so a name that answers differently
  between check and connect (DNS rebinding) cannot reach an internal address.

Internal means loopback, private (RFC 1918, RFC 4193 ``fc00::/7``), link-local
(``169.254/16`` with the cloud metadata address, ``fe80::/10``), unspecified, multicast,
reserved, shared (CGNAT ``100.64/10``) and every other address the IANA special-purpose
registries mark as not globally reachable, also inside IPv4-mapped, NAT64 and 6to4
IPv6 addresses; and the names ``localhost``, ``*.localhost``, ``*.local``,
``*.internal``, ``*.home.arpa``, single-label names and IPv4 addresses in legacy
notations (``127.1``, ``2130706433``).

Operators allow internal targets with ``TOLLHOUSE_OUTBOUND_ALLOW`` (:class:`AllowList`:
IP addresses, CIDR networks and exact host names), and clients they create themselves
are fetched with :meth:`OutboundGuard.trusting`, which skips the internal-address rules.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

RESOLVE_TIMEOUT = 2.0
"""Seconds a lookup may take before registration gives up on it (and accepts the name)."""
SCHEMES = ("https", "http")
INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".localdomain")
INTERNAL_NAMES = frozenset({"localhost", "localhost.localdomain", "home.arpa"})
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_LEGACY_NUMBER = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_IETF_PROTOCOL = ipaddress.ip_network("192.0.0.0/24")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")


class OutboundRefused(Exception):
    """The server will not send a request to this URL or host: ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Resolver(Protocol):
    """Turns a host name into addresses; raises ``OSError`` when it does not resolve."""

    async def resolve(self, host: str, port: int) -> list[Address]: ...


class SystemResolver:
    """The operating system's resolver (``getaddrinfo``), in the event loop's executor."""

    async def resolve(self, host: str, port: int) -> list[Address]:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        found: dict[Address, None] = {}
        for _family, _type, _proto, _name, sockaddr in infos:
            found[ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])] = None
        return list(found)


_resolver: Resolver = SystemResolver()


def use_resolver(resolver: Resolver) -> None:
    """Make ``resolver`` the one every guard built afterwards uses (a test's scripted
    DNS, or a stub resolver of the deployment's own)."""
    global _resolver
    _resolver = resolver


def unwrapped(address: Address) -> Address:
    """The IPv4 address inside an IPv4-mapped (``::ffff:a.b.c.d``), NAT64
    (``64:ff9b::/96``, RFC 6052) or 6to4 (``2002::/16``, RFC 3056) address; the address
    itself otherwise. Each reaches that IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def address_refusal(address: Address) -> str | None:
    """What makes ``address`` internal (``"loopback"``, ``"private"`` …), or None."""
    inner = unwrapped(address)
    checks: tuple[tuple[bool, str], ...] = (
        (inner.is_loopback, "loopback"),
        (inner.is_unspecified, "unspecified"),
        (inner.is_link_local, "link-local"),
        (inner.is_multicast, "multicast"),
        (inner in ipaddress.ip_network("100.64.0.0/10"), "shared (carrier-grade NAT)"),
        (inner in _IETF_PROTOCOL or inner in _SITE_LOCAL, "reserved"),
        (inner.is_private, "private"),
        (inner.is_reserved, "reserved"),
        (not inner.is_global, "non-global"),
    )
    return next((reason for matched, reason in checks if matched), None)


def host_refusal(host: str) -> str | None:
    """Why a host *name* is internal or unusable, or None. IP literals pass here (see
    :func:`address_refusal`)."""
    if literal(host) is not None:
        return None
    name = ascii_name(host)
    if name is None:
        return "not a valid host name"
    if name in INTERNAL_NAMES or name.endswith(INTERNAL_SUFFIXES):
        return "an internal name"
    labels = name.split(".")
    if not all(_LABEL.match(label) for label in labels):
        return "not a valid host name"
    if len(labels) == 1:
        return "a single-label name (resolved by local search domains)"
    if _LEGACY_NUMBER.match(labels[-1]):
        return "an IPv4 address in a legacy notation"
    return None


def ascii_name(host: str) -> str | None:
    """``host`` lower-cased, without a final dot, internationalised names in their
    ASCII form (as they are looked up); None if it has no such form."""
    name = host.lower().removesuffix(".")
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def literal(host: str) -> Address | None:
    """``host`` (brackets allowed) as an IP address, or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class AllowList:
    """Targets an operator allows although they are internal: addresses within
    ``networks``, and hosts named in ``names`` (whatever they resolve to)."""

    networks: tuple[Network, ...] = ()
    names: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str | None) -> AllowList:
        """Comma- or space-separated IPs, CIDR networks and host names; ValueError
        names the entry that is none of these."""
        networks: list[Network] = []
        names: set[str] = set()
        for item in (text or "").replace(",", " ").split():
            try:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            name = item.lower().removesuffix(".")
            if not all(_LABEL.match(label) for label in name.split(".")):
                raise ValueError(f"{item!r} is not an IP address, CIDR network or host name")
            names.add(name)
        return cls(tuple(networks), frozenset(names))

    def allows_name(self, host: str) -> bool:
        return ascii_name(host) in self.names

    def allows_address(self, address: Address) -> bool:
        candidates = {address, unwrapped(address)}
        return any(a in network for a in candidates for network in self.networks)


class OutboundGuard:
    """The rules above, with an operator's :class:`AllowList`.

    ``trusted``: the target was chosen by an operator (a client created with the CLI),
    so internal addresses are allowed; the host is still resolved once and the
    connection still goes to the address returned."""

    def __init__(
        self,
        allow: AllowList | None = None,
        *,
        resolver: Resolver | None = None,
        resolve_timeout: float = RESOLVE_TIMEOUT,
        trusted: bool = False,
    ) -> None:
        self.allow = allow or AllowList()
        self._resolver = resolver or _resolver
        self._resolve_timeout = resolve_timeout
        self.trusted = trusted

    def trusting(self) -> OutboundGuard:
        """The same guard for targets an operator chose."""
        return OutboundGuard(
            self.allow, resolver=self._resolver, resolve_timeout=self._resolve_timeout, trusted=True
        )

    async def check_url(self, url: str) -> None:
        """Registration-time check of a URL the server will fetch; raises
        :class:`OutboundRefused`. A name that does not resolve in time is accepted:
        :meth:`addresses` decides again when the URL is fetched."""
        host, port = split_url(url)
        if self.trusted:
            return
        self._check_host(host)
        address = literal(host)
        if address is not None:
            self._check_addresses(host, [address])
            return
        try:
            found = await asyncio.wait_for(
                self._resolver.resolve(host, port), self._resolve_timeout
            )
        except (OSError, TimeoutError, UnicodeError):
            return
        self._check_addresses(host, found)

    async def refusal(self, url: str) -> str | None:
        """:meth:`check_url` as a value: why ``url`` must not be fetched, or None."""
        try:
            await self.check_url(url)
        except OutboundRefused as refused:
            return refused.reason
        return None

    async def addresses(self, host: str, port: int) -> list[Address]:
        """Send-time: the addresses to connect to for ``host``, every one checked.
        Raises :class:`OutboundRefused` if any is internal (and not allowed), ``OSError``
        if the name does not resolve."""
        host = host.strip("[]")
        if not self.trusted:
            self._check_host(host)
        address = literal(host)
        found = [address] if address is not None else await self._resolve(host, port)
        if not self.trusted:
            self._check_addresses(host, found)
        return found

    async def _resolve(self, host: str, port: int) -> list[Address]:
        try:
            found = await asyncio.wait_for(
                self._resolver.resolve(host, port), self._resolve_timeout
            )
        except (TimeoutError, UnicodeError) as exc:
            raise OSError(f"{host} did not resolve: {type(exc).__name__}") from None
        if not found:
            raise OSError(f"{host} did not resolve")
        return found

    def _check_host(self, host: str) -> None:
        reason = host_refusal(host)
        if reason is not None and not self.allow.allows_name(host):
            raise OutboundRefused(f"{host} is {reason}")

    def _check_addresses(self, host: str, found: Iterable[Address]) -> None:
        if self.allow.allows_name(host):
            return
        for address in found:
            reason = address_refusal(address)
            if reason is not None and not self.allow.allows_address(address):
                kind = f"{'an' if reason[0] in 'aeiou' else 'a'} {reason} address"
                if literal(host) is not None:
                    raise OutboundRefused(f"{host} is {kind}")
                raise OutboundRefused(f"{host} resolves to {address}, {kind}")


def split_url(url: str) -> tuple[str, int]:
    """The host (without brackets) and port of an absolute http(s) URL; raises
    :class:`OutboundRefused` for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise OutboundRefused("it is not a valid URL") from None
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise OutboundRefused("it must be an absolute http(s) URL")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)
