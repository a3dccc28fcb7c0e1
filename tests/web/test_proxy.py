"""X-Forwarded-For / X-Forwarded-Proto are honoured only from trusted proxies."""

from __future__ import annotations

from typing import Any

import pytest

from tollhouse.config import load_settings
from tollhouse.errors import ConfigError
from tollhouse.web.proxy import TrustedProxies, parse_networks


async def through(trusted: str | None, peer: str | None, headers: dict[str, str]) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "scheme": "http",
        "client": (peer, 51000) if peer else None,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    TrustedProxies(parse_networks(trusted)).resolve(scope)
    return scope


async def test_forwarded_headers_from_a_trusted_proxy_set_client_ip_and_scheme() -> None:
    scope = await through(
        "127.0.0.1",
        "127.0.0.1",
        {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
    )
    assert scope["state"]["client_ip"] == "203.0.113.7"
    assert scope["state"]["peer_ip"] == "127.0.0.1"
    assert scope["client"] == ("203.0.113.7", 0)
    assert scope["scheme"] == "https"


async def test_forwarded_headers_from_an_untrusted_peer_are_ignored() -> None:
    scope = await through(
        "127.0.0.1",
        "198.51.100.9",
        {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
    )
    assert scope["state"]["client_ip"] == "198.51.100.9"
    assert scope["client"] == ("198.51.100.9", 51000)
    assert scope["scheme"] == "http"


async def test_no_trusted_proxies_configured_ignores_forwarded_headers() -> None:
    scope = await through(
        None, "127.0.0.1", {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    )
    assert scope["state"]["client_ip"] == "127.0.0.1"
    assert scope["scheme"] == "http"


async def test_client_ip_is_the_rightmost_hop_that_is_not_a_trusted_proxy() -> None:
    # The client prepended a forged hop; the trusted chain appended the real ones.
    scope = await through(
        "10.0.0.0/8, 127.0.0.1",
        "127.0.0.1",
        {"X-Forwarded-For": "1.1.1.1, 203.0.113.7, 10.1.2.3"},
    )
    assert scope["state"]["client_ip"] == "203.0.113.7"


async def test_several_forwarded_for_headers_are_read_as_one_list() -> None:
    scope: dict[str, Any] = {
        "type": "http",
        "scheme": "http",
        "client": ("127.0.0.1", 1),
        "headers": [(b"x-forwarded-for", b"1.1.1.1"), (b"x-forwarded-for", b"203.0.113.7")],
    }
    TrustedProxies(parse_networks("127.0.0.1")).resolve(scope)
    assert scope["state"]["client_ip"] == "203.0.113.7"


async def test_unreadable_forwarded_hop_stops_the_walk_at_the_last_readable_one() -> None:
    scope = await through("127.0.0.1", "127.0.0.1", {"X-Forwarded-For": "203.0.113.7, unknown"})
    assert scope["state"]["client_ip"] == "127.0.0.1"


async def test_forwarded_proto_other_than_http_or_https_is_ignored() -> None:
    scope = await through("127.0.0.1", "127.0.0.1", {"X-Forwarded-Proto": "gopher"})
    assert scope["scheme"] == "http"


async def test_the_nearest_proxys_forwarded_proto_wins() -> None:
    scope = await through("127.0.0.1", "127.0.0.1", {"X-Forwarded-Proto": "http, https"})
    assert scope["scheme"] == "https"


async def test_ipv4_mapped_ipv6_peer_matches_an_ipv4_trusted_proxy() -> None:
    scope = await through("127.0.0.1", "::ffff:127.0.0.1", {"X-Forwarded-For": "203.0.113.7"})
    assert scope["state"]["client_ip"] == "203.0.113.7"


async def test_ipv6_forwarded_client() -> None:
    scope = await through("::1", "::1", {"X-Forwarded-For": "2001:db8::5"})
    assert scope["state"]["client_ip"] == "2001:db8::5"


def test_trusted_proxies_accepts_ips_and_networks() -> None:
    networks = parse_networks("127.0.0.1, 10.0.0.0/8 ::1")
    assert [str(n) for n in networks] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]


def test_a_bad_trusted_proxy_entry_stops_start_up_with_one_line() -> None:
    with pytest.raises(ConfigError, match=r"trusted_proxies.*'nginx' is not an IP"):
        load_settings(trusted_proxies="127.0.0.1 nginx")
