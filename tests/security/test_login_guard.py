"""Sign-in brute-force protection: per account and per IP, without user enumeration."""

from __future__ import annotations

import logging

import pytest

from tollhouse.security.login_guard import Lockout, LoginGuard
from tollhouse.security.ratelimit import MemoryRateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def guard(clock: FakeTime, account: str = "10/15min", ip: str = "30/15min") -> LoginGuard:
    return LoginGuard(MemoryRateLimiter(now=clock), account, ip)


async def attempts(g: LoginGuard, username: str, ip: str, n: int) -> list[Lockout | None]:
    return [await g.attempt(username, ip) for _ in range(n)]


async def test_eleventh_attempt_on_one_account_within_15_minutes_is_locked() -> None:
    g = guard(FakeTime())
    results = await attempts(g, "alice", "10.0.0.1", 11)
    assert results[:10] == [None] * 10
    locked = results[10]
    assert locked is not None and locked.scope == "account"
    assert locked.retry_after == 90  # 15 min / 10: the next attempt refills first


async def test_unknown_usernames_lock_exactly_like_real_ones() -> None:
    g = guard(FakeTime())
    real = await attempts(g, "alice", "10.0.0.1", 11)
    unknown = await attempts(g, "no-such-user", "10.0.0.2", 11)
    assert [r is None for r in real] == [r is None for r in unknown]
    assert real[10] is not None and unknown[10] is not None
    assert real[10].message == unknown[10].message


async def test_thirty_first_attempt_from_one_ip_is_locked_whatever_the_account() -> None:
    g = guard(FakeTime())
    results = [await g.attempt(f"user-{i}", "10.0.0.9") for i in range(31)]
    assert results[:30] == [None] * 30
    locked = results[30]
    assert locked is not None and locked.scope == "ip"
    assert await g.attempt("someone", "10.0.0.10") is None


async def test_lock_lifts_as_the_bucket_refills() -> None:
    clock = FakeTime()
    g = guard(clock)
    await attempts(g, "alice", "10.0.0.1", 10)
    assert await g.attempt("alice", "10.0.0.1") is not None
    clock.now += 90
    assert await g.attempt("alice", "10.0.0.1") is None
    assert await g.attempt("alice", "10.0.0.1") is not None


async def test_success_clears_the_account_and_returns_the_ip_token() -> None:
    g = guard(FakeTime(), ip="3/15min")
    for _ in range(5):
        assert await g.attempt("alice", "10.0.0.1") is None
        await g.succeeded("alice", "10.0.0.1")
    failures = await attempts(g, "alice", "10.0.0.1", 4)
    assert failures[:3] == [None] * 3 and failures[3] is not None


async def test_off_disables_the_guard() -> None:
    g = guard(FakeTime(), account="off", ip="off")
    assert await attempts(g, "alice", "10.0.0.1", 100) == [None] * 100


async def test_lock_is_logged_as_login_locked_without_the_username(
    caplog: pytest.LogCaptureFixture,
) -> None:
    g = guard(FakeTime(), account="1/15min")
    with caplog.at_level(logging.INFO, logger="tollhouse.audit"):
        await attempts(g, "alice-secret-name", "10.0.0.1", 2)
    records = [r for r in caplog.records if getattr(r, "event", None) == "login_locked"]
    assert len(records) == 1
    assert records[0].__dict__["scope"] == "account"
    assert "alice-secret-name" not in str(records[0].__dict__)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1, "1 second"), (45, "45 seconds"), (60, "1 minute"), (90, "2 minutes"), (900, "15 min")],
)
def test_lockout_message_says_how_long_to_wait(seconds: int, text: str) -> None:
    assert text in Lockout("account", seconds).message
