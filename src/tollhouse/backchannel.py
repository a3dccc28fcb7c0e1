"""Delivering OIDC Back-Channel Logout 1.0 logout tokens to clients (§2.5), off the
request path.

The protocol decides who is told what (protocol/logout.py) and hands the notifications
to its ``LogoutSender`` port. :class:`LogoutQueue` implements the port: it queues them
(a bounded queue) and returns at once, so logging out never waits for a client and its
latency tells nothing about the targets. A few worker tasks POST each token through
the outbound guard (:class:`HttpLogoutSender`, security/safe_fetch.py) and retry
failures a bounded number of times; each token's outcome becomes one security event
(``backchannel_logout``: delivered, failed, refused, dropped), audited and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tollhouse.protocol.events import NO_EVENTS, BackchannelLogout, DeliveryResult, Events
from tollhouse.protocol.logout import LogoutNotification
from tollhouse.security.outbound import OutboundRefused
from tollhouse.security.safe_fetch import FetchFailed, SafeFetcher

log = logging.getLogger("tollhouse.backchannel")

MAX_ATTEMPTS = 3
BACKOFF = (1.0, 3.0)
"""Seconds before the second and the third attempt."""
CAPACITY = 1000
"""Notifications waiting at most; more are dropped (and reported)."""
WORKERS = 4
DRAIN_SECONDS = 10.0
"""How long closing waits for queued notifications before dropping them."""
RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Attempt:
    """One POST: delivered, or why not, and whether trying again may help."""

    result: DeliveryResult
    detail: str
    retry: bool = False


class Attempter(Protocol):
    async def attempt(self, notification: LogoutNotification) -> Attempt: ...


class HttpLogoutSender:
    """One POST of one logout token: ``application/x-www-form-urlencoded``, field
    ``logout_token``; the client answers 200 (or 204). Never raises."""

    def __init__(self, fetcher: SafeFetcher) -> None:
        self._fetcher = fetcher

    async def attempt(self, notification: LogoutNotification) -> Attempt:
        try:
            answer = await self._fetcher.post_form(
                notification.uri,
                {"logout_token": notification.logout_token},
                trusted=notification.operator_chosen,
                headers={"Cache-Control": "no-store"},
            )
        except OutboundRefused as refused:
            return Attempt("refused", refused.reason)
        except FetchFailed as failed:
            return Attempt("failed", failed.reason, retry=True)
        if answer.status in (200, 204):
            return Attempt("delivered", str(answer.status))
        # §2.8: anything else is a failure; a redirect is not followed.
        return Attempt("failed", str(answer.status), retry=answer.status in RETRIED_STATUSES)


class LogoutQueue:
    """The ``LogoutSender`` the server uses: queue now, deliver in the background."""

    def __init__(
        self,
        sender: Attempter,
        events: Events = NO_EVENTS,
        *,
        capacity: int = CAPACITY,
        workers: int = WORKERS,
        attempts: int = MAX_ATTEMPTS,
        backoff: Sequence[float] = BACKOFF,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._sender = sender
        self._events = events
        self._queue: asyncio.Queue[LogoutNotification] = asyncio.Queue(capacity)
        self._size = workers
        self._attempts = max(1, attempts)
        self._backoff = tuple(backoff) or (0.0,)
        self._sleep = sleep
        self._workers: list[asyncio.Task[None]] = []

    async def send(self, notifications: Sequence[LogoutNotification]) -> None:
        """Queue each notification and return without waiting for any."""
        self._start()
        for notification in notifications:
            try:
                self._queue.put_nowait(notification)
            except asyncio.QueueFull:
                self._report(notification, "dropped", 0, "queue full")

    def _start(self) -> None:
        if self._workers:
            return
        for number in range(self._size):
            # A context of their own: the request that started them is not theirs.
            self._workers.append(
                asyncio.create_task(
                    self._work(),
                    name=f"tollhouse-backchannel-{number}",
                    context=contextvars.Context(),
                )
            )

    async def _work(self) -> None:
        while True:
            notification = await self._queue.get()
            try:
                await self._deliver(notification)
            except asyncio.CancelledError:
                self._report(notification, "dropped", 0, "server stopping")
                raise
            except Exception:  # a bug must not stop the worker
                log.exception("back-channel logout delivery crashed")
                self._report(notification, "failed", 0, "internal error")
            finally:
                self._queue.task_done()

    async def _deliver(self, notification: LogoutNotification) -> None:
        for number in range(1, self._attempts + 1):
            attempt = await self._sender.attempt(notification)
            if attempt.result != "failed" or not attempt.retry or number == self._attempts:
                self._report(notification, attempt.result, number, attempt.detail)
                return
            log.info(
                "back-channel logout attempt failed; retrying",
                extra={"client_id": notification.client_id, "attempt": number},
            )
            await self._sleep(self._backoff[min(number - 1, len(self._backoff) - 1)])

    def _report(
        self, notification: LogoutNotification, result: DeliveryResult, attempts: int, detail: str
    ) -> None:
        self._events.emit(BackchannelLogout(notification.client_id, result, attempts, detail))

    async def close(self, drain_seconds: float = DRAIN_SECONDS) -> None:
        """Wait up to ``drain_seconds`` for what is queued, then stop the workers;
        whatever is left is reported dropped."""
        if self._workers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), drain_seconds)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        while not self._queue.empty():
            self._report(self._queue.get_nowait(), "dropped", 0, "server stopping")
            self._queue.task_done()
