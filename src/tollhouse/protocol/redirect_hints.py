"""Why a redirect URI did not match: the nearest registered one and the difference.

RFC 9700 §4.1.3 requires exact string matching ("authorization servers MUST utilize
exact string matching"), so ``https://app/cb/`` and ``https://app/cb`` are different
URIs and the request is refused. That is correct and baffling; this module names the
difference ("trailing slash differs", "port differs", …) for the loopback development
error page. It never decides anything: :func:`tollhouse.protocol.redirect_uris.select`
does, and the hint is shown only in development mode, because it reveals the
registered list (RFC 9700 §4.11.1 open redirector; the contract keeps that list from
anonymous callers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import NamedTuple
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

MAX_COMPARED_LENGTH = 2048
"""Longer inputs are not compared (the hint is a convenience, not worth the CPU)."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
_COSMETIC = 1
_SUBSTANTIVE = 4


@dataclass(frozen=True, slots=True)
class RedirectHint:
    """The registered URI closest to what was sent, and how the two differ."""

    nearest: str
    differences: tuple[str, ...]

    def message(self) -> str:
        what = "; ".join(self.differences) or "they differ in a way not named here"
        return f"Nearest registered redirect URI: {self.nearest} ({what})."


class _Parts(NamedTuple):
    scheme: str
    userinfo: str | None
    host: str
    """As written (case kept), brackets removed."""
    port: int | None
    path: str
    query: str
    fragment: str | None


def nearest(sent: str, registered: Sequence[str]) -> RedirectHint | None:
    """The registered URI nearest to ``sent`` with its differences, or None.

    None when nothing is registered, the input is too long, or ``sent`` is registered.
    """
    if not registered or sent in registered or len(sent) > MAX_COMPARED_LENGTH:
        return None
    scored: list[tuple[float, int, str, tuple[str, ...]]] = []
    for position, candidate in enumerate(registered):
        if len(candidate) > MAX_COMPARED_LENGTH:
            continue
        named = differences(sent, candidate)
        weight = sum(_weight(d) for d in named)
        similarity = SequenceMatcher(None, sent, candidate, autojunk=False).ratio()
        scored.append((weight + (1.0 - similarity), position, candidate, named))
    if not scored:
        return None
    _, _, uri, named = min(scored)
    return RedirectHint(uri, named)


def differences(
    sent: str, registered: str, labels: tuple[str, str] = ("sent", "registered")
) -> tuple[str, ...]:
    """Each way ``sent`` differs from ``registered``, in URI component order; ``labels``
    name the two sides where a difference quotes both values."""
    found: list[str] = []
    if sent != sent.strip():
        found.append("whitespace around the URI differs")
        sent = sent.strip()
    a, b = _parse(sent), _parse(registered)
    if a is None or b is None:
        return ("the sent value is not a valid URI",) if a is None else ()
    found.extend(_scheme(a, b, labels))
    if a.userinfo != b.userinfo:
        found.append("user info differs")
    found.extend(_host(a, b, labels))
    found.extend(_port(a, b, labels))
    found.extend(_path(a.path, b.path))
    found.extend(_query(a.query, b.query))
    if a.fragment is not None and b.fragment is None:
        found.append("fragment present (redirect URIs never have one)")
    elif a.fragment != b.fragment:
        found.append("fragment differs")
    return tuple(found)


def _parse(uri: str) -> _Parts | None:
    try:
        parts: SplitResult = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    netloc = parts.netloc
    userinfo, _, hostport = netloc.rpartition("@") if "@" in netloc else (None, "", netloc)
    if hostport.startswith("["):
        host = hostport[1:].partition("]")[0]
    else:
        host = hostport.partition(":")[0]
    fragment = uri.partition("#")[2] if "#" in uri else None
    return _Parts(parts.scheme, userinfo, host, port, parts.path, parts.query, fragment)


def _scheme(a: _Parts, b: _Parts, labels: tuple[str, str]) -> list[str]:
    if a.scheme == b.scheme:
        return []
    if a.scheme.lower() == b.scheme.lower():
        return ["scheme case differs"]
    return [f"scheme differs ({a.scheme or 'none'} {labels[0]}, {b.scheme} {labels[1]})"]


_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def _host(a: _Parts, b: _Parts, labels: tuple[str, str]) -> list[str]:
    if a.host == b.host:
        return []
    if a.host.lower() == b.host.lower():
        return ["host case differs"]
    if a.host.lower() in _LOOPBACK_NAMES and b.host.lower() in _LOOPBACK_NAMES:
        return [f"host differs ({a.host} {labels[0]}, {b.host} {labels[1]}; both are loopback)"]
    return ["host differs"]


def _port(a: _Parts, b: _Parts, labels: tuple[str, str]) -> list[str]:
    if a.port == b.port:
        return []
    default = _DEFAULT_PORTS.get(b.scheme.lower())
    if {a.port, b.port} == {None, default}:
        return ["port differs (the default port is written out in one of them)"]
    sent = "none" if a.port is None else str(a.port)
    kept = "none" if b.port is None else str(b.port)
    return [f"port differs ({sent} {labels[0]}, {kept} {labels[1]})"]


def _path(sent: str, registered: str) -> list[str]:
    if sent == registered:
        return []
    if sent.rstrip("/") == registered.rstrip("/"):
        return ["trailing slash differs"]
    if sent.lower() == registered.lower():
        return ["path case differs"]
    if unquote(sent) == unquote(registered):
        return ["percent-encoding differs"]
    return ["path differs"]


def _query(sent: str, registered: str) -> list[str]:
    if sent == registered:
        return []
    if sorted(parse_qsl(sent, keep_blank_values=True)) == sorted(
        parse_qsl(registered, keep_blank_values=True)
    ):
        return ["query parameter order differs"]
    return ["query differs"]


def _weight(difference: str) -> int:
    cosmetic = (
        "whitespace",
        "scheme case",
        "host case",
        "trailing slash",
        "path case",
        "percent-encoding",
        "query parameter order",
        "the default port",
        "fragment",
    )
    return _COSMETIC if any(word in difference for word in cosmetic) else _SUBSTANTIVE
