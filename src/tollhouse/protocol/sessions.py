"""Browser sessions for single sign-on: the current one, a new one, the end of one.

One service for every way of signing in — the built-in pages and the interaction API
alike — so the rules live once:

- a session ends at its absolute expiry and after ``idle_ttl`` seconds unused;
- signing in again as the same user keeps the SSO session (its ``sid``, OIDC Core §2,
  and the clients that took part in it) under a new cookie value (no session fixation);
- another user signing in ends the previous session first, with logout notifications;
- ending a session revokes what it granted and notifies the clients through a
  :class:`LogoutSender` (OIDC Back-Channel Logout 1.0).

It knows nothing of HTTP: callers pass the cookie value in and receive the cookie to
set (:class:`SessionCookie`). Only the cookie value's fingerprint is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tollhouse.clock import Clock
from tollhouse.models import Session
from tollhouse.protocol.logout import LogoutNotification, SessionTerminator
from tollhouse.randomness import fingerprint, identifier, token
from tollhouse.storage.ports import SessionStore

TOUCH_EVERY = 60
"""Seconds between two writes of a session's last activity."""
MAX_COOKIE_LENGTH = 128


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The user behind the browser's session, and how they authenticated."""

    user_id: str
    auth_time: int
    session_hash: str | None
    sid: str | None = None
    amr: tuple[str, ...] = ()
    """RFC 8176 authentication method references, carried into the ID Token."""
    acr: str | None = None
    """OIDC Core §2 authentication context class reference; None: not asserted."""


@dataclass(frozen=True, slots=True)
class SessionCookie:
    """The session cookie to set: its value, for ``max_age`` seconds, or until the
    browser closes when ``max_age`` is None."""

    value: str
    max_age: int | None


@dataclass(frozen=True, slots=True)
class Established:
    """A new session: the cookie for the browser and who is now signed in."""

    cookie: SessionCookie
    signed_in: SignedIn


class LogoutSender(Protocol):
    """Delivers logout tokens to clients (Back-Channel Logout 1.0 §2.5).

    The port lets delivery move off the request path (a queue with retries) without
    changing who ends sessions."""

    async def send(self, notifications: Sequence[LogoutNotification]) -> None: ...


def signed_in_of(session: Session) -> SignedIn:
    return SignedIn(
        session.user_id,
        session.auth_time,
        session.session_hash,
        session.sid or None,
        session.amr,
        session.acr,
    )


class SessionService:
    def __init__(
        self,
        *,
        store: SessionStore,
        terminator: SessionTerminator,
        sender: LogoutSender,
        clock: Clock,
        ttl: int,
        idle_ttl: int,
    ) -> None:
        self._store = store
        self._terminator = terminator
        self._sender = sender
        self._clock = clock
        self._ttl = ttl
        self._idle_ttl = idle_ttl

    async def current(self, cookie: str | None) -> Session | None:
        """The live session behind a cookie value: within its absolute lifetime and
        not idle longer than ``idle_ttl``. Its last activity is recorded at most every
        :data:`TOUCH_EVERY` seconds, so reading a session rarely writes."""
        if not cookie or len(cookie) > MAX_COOKIE_LENGTH:
            return None
        session = await self._store.get_session(fingerprint(cookie))
        now = self._clock.now()
        if session is None or session.expires_at <= now:
            return None
        last = session.last_active_at or session.created_at
        if now - last > self._idle_ttl:
            return None
        if now - last >= TOUCH_EVERY:
            await self._store.touch_session(session.session_hash, now)
        return session

    async def signed_in(self, cookie: str | None) -> SignedIn | None:
        session = await self.current(cookie)
        return None if session is None else signed_in_of(session)

    async def establish(
        self,
        cookie: str | None,
        user_id: str,
        amr: tuple[str, ...],
        *,
        acr: str | None = None,
        remember: bool = True,
    ) -> Established:
        """Sign ``user_id`` in, replacing the session behind ``cookie`` if any.

        ``remember=False``: the cookie ends with the browser (the session itself still
        ends on its own timeouts)."""
        now = self._clock.now()
        previous = await self.current(cookie)
        sid, participants = identifier(16), []
        if previous is not None and previous.user_id == user_id and previous.sid:
            sid = previous.sid
            participants = await self._store.session_clients(sid)
            await self._store.delete_session(previous.session_hash)
        elif previous is not None:
            await self.end(previous, "other_user_signed_in")
        value = token(32)
        session = Session(
            fingerprint(value),
            user_id,
            now,
            now,
            now + self._ttl,
            sid=sid,
            last_active_at=now,
            amr=amr,
            acr=acr,
        )
        await self._store.add_session(session)
        for client_id in participants:
            await self._store.add_session_client(sid, client_id)
        cookie_out = SessionCookie(value, self._ttl if remember else None)
        return Established(cookie_out, signed_in_of(session))

    async def end(self, session: Session, reason: str) -> list[LogoutNotification]:
        """End ``session`` (RP-Initiated Logout, an admin, another user signing in) and
        notify the clients that took part in it; returns the notifications sent."""
        notifications = await self._terminator.end(session, reason)
        if notifications:
            await self._sender.send(notifications)
        return notifications
