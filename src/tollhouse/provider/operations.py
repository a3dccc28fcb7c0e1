"""Wiring of what keeps an instance healthy among others: the revocation mirrors
shared through Redis, and the rate limits."""

from __future__ import annotations

from tollhouse.config import Settings
from tollhouse.config_limits import RATE_LIMITS
from tollhouse.security.lockout import open_failure_counts
from tollhouse.security.login_guard import LockoutPolicy, LoginGuard
from tollhouse.security.ratelimit import OFF, RateLimiter, RateLimits
from tollhouse.storage.ports import RevocationList


async def revocation_mirrors(settings: Settings) -> tuple[RevocationList, ...]:
    """Where revocations are copied besides the database: Redis when configured."""
    if not settings.redis:
        return ()
    from tollhouse.storage.redis import RedisRevocationList

    return (RedisRevocationList(settings.redis),)


async def close_mirrors(mirrors: tuple[RevocationList, ...]) -> None:
    """Release the connections of the revocation mirrors (those that hold any)."""
    for mirror in mirrors:
        close = getattr(mirror, "close", None)
        if close is not None:
            await close()


DEVICE_USER_CODE_FAILURES = "5/min"
"""Wrong user codes typed at /device, per address and per browser (protocol/user_codes.py
says why this keeps a live code out of reach)."""


def rate_limits(settings: Settings, limiter: RateLimiter) -> RateLimits:
    """Every ``TOLLHOUSE_RATE_LIMIT_<NAME>`` under its name in lower case (``token``,
    ``authorize`` …; web/throttle.py says which path takes which), and ``interactions``:
    the sign-in requests a client IP may start, ``max_pending_interactions`` per
    ``interaction_ttl``; ``device_user_code``: the wrong user codes at /device."""
    rates = {name.removeprefix("rate_limit_"): getattr(settings, name) for name in RATE_LIMITS}
    pending = settings.max_pending_interactions
    rates["interactions"] = pending if pending == OFF else f"{pending}/{settings.interaction_ttl}s"
    rates["device_user_code"] = DEVICE_USER_CODE_FAILURES
    return RateLimits(limiter, rates)


def login_guard(settings: Settings, limiter: RateLimiter) -> LoginGuard:
    """Progressive lockouts per account and address and per account (shared through
    Redis when configured), and the per-IP bucket (security/login_guard.py)."""
    return LoginGuard(
        limiter=limiter,
        per_ip=settings.rate_limit_login_ip,
        counts=open_failure_counts(settings.redis),
        policy=LockoutPolicy.of(
            settings.login_lockout_per_address,
            settings.login_lockout_per_account,
            settings.login_lockout_time,
            settings.login_lockout_max_time,
        ),
    )
