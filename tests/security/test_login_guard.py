"""Sign-in brute-force protection: per account and address with progressive locks, per
account at a much higher threshold, per IP; without user enumeration."""

from __future__ import annotations

import logging

import pytest

from tollhouse.config import load_settings
from tollhouse.security.lockout import Backoff, MemoryFailureCounts
from tollhouse.security.login_guard import Lockout, LockoutPolicy, LoginGuard
from tollhouse.security.ratelimit import MemoryRateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


DEFAULTS = LockoutPolicy.of(per_address=5, per_account=50, first=30, longest=900)


def guard(clock: FakeTime, policy: LockoutPolicy = DEFAULTS, ip: str = "off") -> LoginGuard:
    return LoginGuard(
        MemoryRateLimiter(now=clock),
        ip,
        counts=MemoryFailureCounts(now=clock),
        policy=policy,
    )


async def attempts(g: LoginGuard, username: str, ip: str, n: int) -> list[Lockout | None]:
    return [await g.attempt(username, ip) for _ in range(n)]


def test_the_defaults_are_five_per_address_fifty_per_account_30_s_doubling_to_15_min(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("PER_ADDRESS", "PER_ACCOUNT", "TIME", "MAX_TIME"):
        monkeypatch.delenv(f"TOLLHOUSE_LOGIN_LOCKOUT_{name}", raising=False)
    settings = load_settings()
    policy = LockoutPolicy.of(
        settings.login_lockout_per_address,
        settings.login_lockout_per_account,
        settings.login_lockout_time,
        settings.login_lockout_max_time,
    )
    assert policy == DEFAULTS
    assert settings.rate_limit_login_ip == "30/15min"


async def test_sixth_attempt_from_one_address_is_locked_for_30_seconds() -> None:
    g = guard(FakeTime())
    results = await attempts(g, "alice", "10.0.0.1", 6)
    assert results[:5] == [None] * 5
    assert results[5] == Lockout("address", 30)


async def test_failures_from_ten_addresses_do_not_lock_the_owner_out() -> None:
    """Issue 21.8: 10 wrong passwords from 10 addresses, then the owner elsewhere."""
    g = guard(FakeTime())
    for n in range(10):
        assert await g.attempt("operator", f"10.0.0.{n}") is None
    assert await g.attempt("operator", "192.0.2.1") is None


async def test_each_failure_past_the_threshold_doubles_the_lock_up_to_the_longest() -> None:
    clock = FakeTime()
    g = guard(clock)
    await attempts(g, "alice", "10.0.0.1", 5)
    waits = []
    for _ in range(8):
        locked = await g.attempt("alice", "10.0.0.1")
        assert locked is not None and locked.scope == "address"
        waits.append(locked.retry_after)
        clock.now += locked.retry_after
        assert await g.attempt("alice", "10.0.0.1") is None  # counted: the lock grows
    assert waits == [30, 60, 120, 240, 480, 900, 900, 900]


async def test_a_locked_attempt_is_not_counted() -> None:
    clock = FakeTime()
    g = guard(clock)
    await attempts(g, "alice", "10.0.0.1", 5)
    for _ in range(20):
        assert await g.attempt("alice", "10.0.0.1") == Lockout("address", 30)
    clock.now += 30
    assert await g.attempt("alice", "10.0.0.1") is None
    assert await g.attempt("alice", "10.0.0.1") == Lockout("address", 60)


async def test_the_account_locks_everywhere_past_its_own_threshold() -> None:
    g = guard(FakeTime())
    for n in range(10):  # 5 each from 10 addresses: no address locked yet
        assert await attempts(g, "alice", f"10.0.0.{n}", 5) == [None] * 5
    assert await g.attempt("alice", "192.0.2.1") == Lockout("account", 30)
    assert await g.attempt("bob", "192.0.2.1") is None  # another account is not touched


async def test_unknown_usernames_lock_exactly_like_real_ones() -> None:
    g = guard(FakeTime())
    real = await attempts(g, "alice", "10.0.0.1", 6)
    unknown = await attempts(g, "no-such-user", "10.0.0.2", 6)
    assert [r is None for r in real] == [r is None for r in unknown]
    assert real[5] is not None and unknown[5] is not None
    assert real[5].message == unknown[5].message


async def test_thirty_first_attempt_from_one_ip_is_locked_whatever_the_account() -> None:
    g = guard(FakeTime(), ip="30/15min")
    results = [await g.attempt(f"user-{i}", "10.0.0.9") for i in range(31)]
    assert results[:30] == [None] * 30
    locked = results[30]
    assert locked is not None and locked.scope == "ip"
    assert await g.attempt("someone", "10.0.0.10") is None


async def test_success_clears_the_address_keeps_others_failures_on_the_account() -> None:
    g = guard(FakeTime(), LockoutPolicy.of(per_address=3, per_account=6, first=30, longest=900))
    await attempts(g, "alice", "10.0.0.1", 2)
    await attempts(g, "alice", "10.0.0.2", 2)
    assert await g.attempt("alice", "10.0.0.1") is None  # the right password, at last
    await g.succeeded("alice", "10.0.0.1")
    # This address starts again; the account still holds the four failures.
    assert await attempts(g, "alice", "10.0.0.1", 2) == [None, None]
    assert await g.attempt("alice", "10.0.0.3") == Lockout("account", 30)


async def test_success_gives_the_ip_its_token_back() -> None:
    g = guard(FakeTime(), ip="3/15min")
    for _ in range(5):
        assert await g.attempt("alice", "10.0.0.1") is None
        await g.succeeded("alice", "10.0.0.1")
    failures = [await g.attempt(f"user-{i}", "10.0.0.1") for i in range(4)]
    assert failures[:3] == [None] * 3 and failures[3] is not None


async def test_an_unchecked_attempt_counts_for_nothing() -> None:
    """Refused because the server was busy (security/hash_gate.py): given back."""
    g = guard(FakeTime(), ip="2/15min")
    for _ in range(10):
        assert await g.attempt("alice", "10.0.0.1") is None
        await g.unchecked("alice", "10.0.0.1")
    assert await attempts(g, "alice", "10.0.0.1", 2) == [None, None]


async def test_zero_turns_a_count_off() -> None:
    g = guard(FakeTime(), LockoutPolicy.of(per_address=0, per_account=0, first=30, longest=900))
    assert await attempts(g, "alice", "10.0.0.1", 100) == [None] * 100


async def test_lock_is_logged_as_login_locked_without_the_username(
    caplog: pytest.LogCaptureFixture,
) -> None:
    g = guard(FakeTime(), LockoutPolicy.of(per_address=1, per_account=0, first=30, longest=30))
    with caplog.at_level(logging.INFO, logger="tollhouse.audit"):
        await attempts(g, "alice-secret-name", "10.0.0.1", 2)
    records = [r for r in caplog.records if getattr(r, "event", None) == "login_locked"]
    assert len(records) == 1
    assert records[0].__dict__["scope"] == "address"
    assert "alice-secret-name" not in str(records[0].__dict__)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1, "1 second"), (45, "45 seconds"), (60, "1 minute"), (90, "2 minutes"), (900, "15 min")],
)
def test_lockout_message_says_how_long_to_wait(seconds: int, text: str) -> None:
    assert text in Lockout("account", seconds).message


def test_backoff_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        Backoff(threshold=5, first=60, longest=30)
