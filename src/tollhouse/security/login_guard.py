"""Password guessing protection for the login form (RFC 6749 §10.10, RFC 6819 §4.4.3.6,
OWASP Authentication Cheat Sheet "Account Lockout").

Three counts per attempt, all taken *before* the password is checked, so parallel
guesses cannot slip past them:

- **per account and address** (the device): ``TOLLHOUSE_LOGIN_LOCKOUT_PER_ADDRESS``
  failures (default 5) lock that account at that address for
  ``TOLLHOUSE_LOGIN_LOCKOUT_TIME`` seconds (30), doubled with each further failure up
  to ``TOLLHOUSE_LOGIN_LOCKOUT_MAX_TIME`` (900): a progressive delay
  (security/lockout.py). The right password clears this count.
- **per account**, from every address: ``TOLLHOUSE_LOGIN_LOCKOUT_PER_ACCOUNT`` failures
  (default 50) lock the account everywhere, with the same delays. Ten times the
  per-address threshold, so strangers failing on purpose from a few addresses cannot
  lock the owner out, while guessing spread over many addresses is still slowed.
- **per client IP**, whatever the account: a token bucket
  (``TOLLHOUSE_RATE_LIMIT_LOGIN_IP``, 30 per 15 minutes), against one address trying
  many accounts.

A correct password takes its attempt back from the account-wide count and the IP's
bucket; an attempt refused unchecked (the server busy, security/hash_gate.py) gives
back all three. A locked attempt answers 429 with ``Retry-After`` and is not counted.

No user enumeration: the counts are keyed by the name as typed, whether or not such a
user exists, so unknown names lock exactly like real ones; the key is a fingerprint, so
Redis never holds usernames. A lock is an audit line ``login_locked`` (with the first 16
characters of that fingerprint as ``account``, never the name: a password typed into
the username field must not reach a log).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tollhouse.randomness import fingerprint
from tollhouse.security.lockout import Backoff, Count, FailureCounts
from tollhouse.security.ratelimit import RateLimiter, parse_rate

audit_log = logging.getLogger("tollhouse.audit")
"""The audit trail's logger (observability/audit.py): one JSON line per lock."""

MESSAGE = "Too many sign-in attempts. Wait {wait} and try again."


@dataclass(frozen=True, slots=True)
class Lockout:
    scope: str
    """``address``, ``account`` or ``ip``: which limit was reached (logged, never shown)."""
    retry_after: int

    @property
    def message(self) -> str:
        """The same text whichever limit was hit, for known and unknown users alike."""
        seconds = self.retry_after
        minutes = -(-seconds // 60)
        if seconds < 60:
            wait = "1 second" if seconds == 1 else f"{seconds} seconds"
        else:
            wait = "1 minute" if minutes == 1 else f"{minutes} minutes"
        return MESSAGE.format(wait=wait)


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """The two progressive counts; None turns one off."""

    per_address: Backoff | None
    per_account: Backoff | None

    @classmethod
    def of(cls, per_address: int, per_account: int, first: int, longest: int) -> LockoutPolicy:
        """Thresholds (0: off) and the first and longest lock in seconds."""
        return cls(
            Backoff(per_address, first, longest) if per_address else None,
            Backoff(per_account, first, longest) if per_account else None,
        )


def _address_key(username: str, client_ip: str) -> str:
    return f"login-address:{fingerprint(username)}@{client_ip}"


def _account_key(username: str) -> str:
    return f"login-account:{fingerprint(username)}"


def _ip_key(client_ip: str) -> str:
    return f"login-ip:{client_ip}"


class LoginGuard:
    """Counts sign-in attempts per account and address, per account, and per client IP."""

    def __init__(
        self,
        limiter: RateLimiter,
        per_ip: str,
        *,
        counts: FailureCounts,
        policy: LockoutPolicy,
    ) -> None:
        self._limiter = limiter
        self._per_ip = parse_rate(per_ip)
        self._counts = counts
        self._policy = policy

    def _tracked(self, username: str, client_ip: str) -> list[tuple[str, Count]]:
        tracked = []
        if self._policy.per_address is not None:
            count = Count(_address_key(username, client_ip), self._policy.per_address)
            tracked.append(("address", count))
        if self._policy.per_account is not None:
            tracked.append(("account", Count(_account_key(username), self._policy.per_account)))
        return tracked

    async def attempt(
        self, username: str, client_ip: str, *, request_id: str | None = None
    ) -> Lockout | None:
        """Count one attempt; a :class:`Lockout` if it must be refused unchecked."""
        lockout: Lockout | None = None
        if self._per_ip is not None:
            decision = await self._limiter.take(_ip_key(client_ip), self._per_ip)
            if not decision.allowed:
                lockout = Lockout("ip", decision.retry_after)
        tracked = self._tracked(username, client_ip)
        if lockout is None and tracked:
            locked = await self._counts.attempt([count for _, count in tracked])
            if locked is not None:
                lockout = Lockout(tracked[locked.index][0], locked.retry_after)
        if lockout is not None:
            audit_log.warning(
                "sign-in refused: too many attempts",
                extra={
                    "event": "login_locked",
                    "scope": lockout.scope,
                    "retry_after": lockout.retry_after,
                    "client_ip": client_ip,
                    "account": fingerprint(username)[:16],
                    "request_id": request_id,
                },
            )
        return lockout

    async def unchecked(self, username: str, client_ip: str) -> None:
        """The attempt was counted but its password not checked: it counts for nothing."""
        for _, count in self._tracked(username, client_ip):
            await self._counts.give_back(count.key)
        await self._give_back_ip(client_ip)

    async def succeeded(self, username: str, client_ip: str) -> None:
        """A correct password: forget this address's failures, take the attempt back
        from the account's count (others' failures stay), give the IP its token back."""
        for scope, count in self._tracked(username, client_ip):
            if scope == "address":
                await self._counts.forget(count.key)
            else:
                await self._counts.give_back(count.key)
        await self._give_back_ip(client_ip)

    async def _give_back_ip(self, client_ip: str) -> None:
        if self._per_ip is not None:
            await self._limiter.take(_ip_key(client_ip), self._per_ip, cost=-1)

    async def close(self) -> None:
        await self._counts.close()
