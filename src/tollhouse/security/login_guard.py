"""Password guessing protection for the login form (RFC 6749 §10.10, RFC 6819 §4.4.3.6).

Two token buckets per attempt: one for the account named in the form and one for the
client IP (defaults: 10 per account and 30 per IP per 15 minutes). Every attempt takes
a token from both *before* the password is checked, so parallel guesses cannot slip
past the limit; a successful sign-in refills the account's bucket and gives the IP its
token back, so only failures add up. An empty bucket answers 429 with ``Retry-After``
until it has refilled by one token (15 min / 10 = 90 s by default): a temporary lock
followed by one attempt per interval, a progressive delay.

No user enumeration: the account bucket is keyed by the name as typed, whether or not
such a user exists, so unknown names lock exactly like real ones; the key is a
fingerprint, so Redis never holds usernames. A lock is an audit line ``login_locked``
(with the first 16 characters of that fingerprint as ``account``, never the name: a
password typed into the username field must not reach a log).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tollhouse.randomness import fingerprint
from tollhouse.security.ratelimit import RateLimiter, parse_rate

audit_log = logging.getLogger("tollhouse.audit")
"""The audit trail's logger (observability/audit.py): one JSON line per lock."""

MESSAGE = "Too many sign-in attempts. Wait {wait} and try again."


@dataclass(frozen=True, slots=True)
class Lockout:
    scope: str
    """``account`` or ``ip``: which limit was reached (logged, never shown)."""
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


def _account_key(username: str) -> str:
    return f"login-account:{fingerprint(username)}"


def _ip_key(client_ip: str) -> str:
    return f"login-ip:{client_ip}"


class LoginGuard:
    """Counts sign-in attempts per account and per client IP."""

    def __init__(self, limiter: RateLimiter, per_account: str, per_ip: str) -> None:
        self._limiter = limiter
        self._per_account = parse_rate(per_account)
        self._per_ip = parse_rate(per_ip)

    async def attempt(
        self, username: str, client_ip: str, *, request_id: str | None = None
    ) -> Lockout | None:
        """Count one attempt; a :class:`Lockout` if it must be refused unchecked."""
        lockout: Lockout | None = None
        if self._per_ip is not None:
            decision = await self._limiter.take(_ip_key(client_ip), self._per_ip)
            if not decision.allowed:
                lockout = Lockout("ip", decision.retry_after)
        if lockout is None and self._per_account is not None:
            decision = await self._limiter.take(_account_key(username), self._per_account)
            if not decision.allowed:
                lockout = Lockout("account", decision.retry_after)
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
        """The attempt was counted but its password not checked: give both tokens back."""
        if self._per_account is not None:
            await self._limiter.take(_account_key(username), self._per_account, cost=-1)
        if self._per_ip is not None:
            await self._limiter.take(_ip_key(client_ip), self._per_ip, cost=-1)

    async def succeeded(self, username: str, client_ip: str) -> None:
        """A correct password: forget the account's failures, give the IP its token back."""
        if self._per_account is not None:
            await self._limiter.reset(_account_key(username))
        if self._per_ip is not None:
            await self._limiter.take(_ip_key(client_ip), self._per_ip, cost=-1)
