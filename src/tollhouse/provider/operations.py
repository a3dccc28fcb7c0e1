"""Wiring of what keeps an instance healthy among others: the revocation mirrors
shared through Redis, and the rate limits."""

from __future__ import annotations

from tollhouse.config import Settings
from tollhouse.security.login_guard import LoginGuard
from tollhouse.security.ratelimit import RateLimiter, RateLimits
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
    """The per-client-IP limits by endpoint, and the per-client ones on ``/token``: one
    for authenticated requests, one for failed authentications (web/throttle.py); the
    wrong user codes at /device."""
    return RateLimits(
        limiter,
        {
            "token": settings.rate_limit_token,
            "introspect": settings.rate_limit_introspect,
            "revoke": settings.rate_limit_revoke,
            "register": settings.rate_limit_register,
            "token_client": settings.rate_limit_token_client,
            "token_client_failures": settings.rate_limit_token_client_failures,
            "device": settings.rate_limit_device,
            "device_user_code": DEVICE_USER_CODE_FAILURES,
        },
    )


def login_guard(settings: Settings, limiter: RateLimiter) -> LoginGuard:
    return LoginGuard(
        limiter=limiter,
        per_account=settings.rate_limit_login,
        per_ip=settings.rate_limit_login_ip,
    )
