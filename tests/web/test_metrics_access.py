"""Who may read /metrics on the main listener: local callers by the address step 1 of
the pipeline settled on, holders of the token, or everyone when it is public. (The
same rules against a real server: tests/e2e/test_metrics_access.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from tollhouse.provider.parts import MetricsAccess
from tollhouse.web.metrics_access import is_local, refusal, token_matches
from tollhouse.web.proxy import TrustedProxies, parse_networks

TOKEN = "t" * 40


def scope(peer: str, headers: dict[str, str] | None = None, trusted: str = "") -> dict[str, Any]:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    made: dict[str, Any] = {"type": "http", "client": (peer, 5000), "headers": raw}
    TrustedProxies(parse_networks(trusted)).resolve(made)
    return made


@pytest.mark.parametrize(
    ("peer", "headers", "trusted", "local"),
    [
        ("127.0.0.1", {}, "", True),
        ("::1", {}, "", True),
        ("127.0.0.2", {}, "127.0.0.1", True),
        ("192.0.2.7", {}, "", False),
        # A trusted proxy on loopback forwards an outside client: not local.
        ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}, "127.0.0.1", False),
        ("127.0.0.1", {"X-Forwarded-For": "127.0.0.1"}, "127.0.0.1", True),
        ("10.0.0.2", {"X-Forwarded-For": "127.0.0.1"}, "10.0.0.0/8", True),
        # An outside peer cannot claim to be local.
        ("192.0.2.7", {"X-Forwarded-For": "127.0.0.1"}, "", False),
        # A loopback peer that is not trusted but forwards for someone is a proxy.
        ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}, "", False),
        ("127.0.0.1", {"Forwarded": "for=203.0.113.9"}, "", False),
        ("127.0.0.1", {"X-Real-IP": "203.0.113.9"}, "10.0.0.0/8", False),
    ],
)
def test_local_is_the_settled_client_address(
    peer: str, headers: dict[str, str], trusted: str, local: bool
) -> None:
    assert is_local(scope(peer, headers, trusted)) is local


def test_the_token_is_compared_whole() -> None:
    assert token_matches(TOKEN, TOKEN)
    assert not token_matches(TOKEN[:-1], TOKEN)
    assert not token_matches(TOKEN + "t", TOKEN)
    assert not token_matches("", TOKEN)
    assert not token_matches("\ud800", TOKEN)  # a lone surrogate is just wrong


def test_outside_callers_need_the_token_or_a_public_setting() -> None:
    outside = scope("192.0.2.7")
    with_token = MetricsAccess(token=TOKEN)
    missing = refusal(outside, with_token)
    assert missing is not None and missing.status == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    wrong = refusal(scope("192.0.2.7", {"Authorization": "Bearer nope"}), with_token)
    assert wrong is not None and wrong.status == 401 and wrong.body["error"] == "invalid_token"
    assert refusal(scope("192.0.2.7", {"Authorization": f"bearer {TOKEN}"}), with_token) is None

    closed = refusal(outside, MetricsAccess())
    assert closed is not None and closed.status == 403
    assert "--metrics-port" in closed.body["error_description"]
    assert refusal(outside, MetricsAccess(public=True)) is None
    assert refusal(scope("127.0.0.1"), MetricsAccess()) is None


def test_the_token_repr_does_not_show_it() -> None:
    assert TOKEN not in repr(MetricsAccess(token=TOKEN))
