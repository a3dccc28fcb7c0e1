"""A bound on password checks running at once, with a bounded queue and a deadline.

One argon2id check at RFC 9106's second recommended option holds 64 MiB while it runs
(security/passwords.py), so unbounded checks are unbounded memory: a flood of wrong
passwords would take the process past any container limit. The gate lets
``concurrency`` checks run (about one per core: more only share the same cores), lets
up to ``queue`` more wait at most ``queue_time`` seconds for their turn, and refuses
the rest with :class:`HashingBusy`, a 503 with ``Retry-After`` (RFC 9110 §15.6.4,
§10.2.3) that each caller renders in its own format. Memory for password checks is
then at most ``concurrency`` times the hash's memory cost.

The check runs in one of the gate's own ``concurrency`` threads (argon2-cffi releases
the GIL) at the lowest CPU priority (:func:`yield_to_requests`), so the event loop keeps
answering every other request while the slots are busy. A slot is held until its
thread has finished, even when the request waiting for it is cancelled: a thread
cannot be stopped, and its memory is in use until it returns.

Under ``serve --workers N`` the slots are the server's, not the process's
(security/shared_slots.py): each worker's gate then has a thread for every slot, and
each thread takes a shared slot before it checks, waiting there within the same
deadline. A worker with a queue thus uses the cores another worker leaves idle, and all
workers together still run no more than ``concurrency`` checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from tollhouse.errors import TemporarilyUnavailable
from tollhouse.security.shared_slots import SlotLease

T = TypeVar("T")
log = logging.getLogger("tollhouse.security")

CHECK_NICENESS = 19
"""The lowest scheduling priority (setpriority(2)): checks run on the CPU time that
answering requests leaves."""


class HashingBusy(TemporarilyUnavailable):
    """Every password-check slot is busy and the queue is full or too slow."""

    default_description = "The server is busy checking other sign-ins; retry shortly."

    def __init__(self, retry_after: int) -> None:
        super().__init__(debug="password checks at their concurrency limit")
        self.retry_after: int = retry_after


class _Abandoned(Exception):
    """The request left before its check had a slot: the check is skipped, and nobody
    reads this (asyncio.shield marks it retrieved)."""


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, which container runtimes
    set with ``--cpuset-cpus``), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_concurrency(workers: int = 1) -> int:
    """About one check per core; ``workers`` processes that cannot share slots
    (security/shared_slots.py) each get their share."""
    return max(1, available_cpus() // max(1, workers))


def yield_to_requests() -> None:
    """Give the calling thread the lowest scheduling priority, :data:`CHECK_NICENESS`.

    Runs first in every check thread. On Linux each thread has its own nice value
    (setpriority(2) with a thread id) and argon2's lane threads inherit it: the event
    loop's thread, at the process's priority, gets the CPU first whenever it has
    requests to answer, and the checks run on the rest. At equal priority the lane
    threads (``p`` per check) would outnumber it in the scheduler's fair share and a
    sign-in flood would slow every other endpoint. Elsewhere, or if the system refuses,
    the thread keeps its priority.
    """
    if sys.platform != "linux":
        return
    thread = threading.get_native_id()
    with contextlib.suppress(OSError):
        if os.getpriority(os.PRIO_PROCESS, thread) < CHECK_NICENESS:
            os.setpriority(os.PRIO_PROCESS, thread, CHECK_NICENESS)


class HashGate:
    """Runs blocking checks in worker threads, ``concurrency`` at a time; with
    ``shared``, ``concurrency`` at a time across every process of that lease's server."""

    def __init__(
        self, concurrency: int, queue: int, queue_time: float, shared: SlotLease | None = None
    ) -> None:
        if concurrency < 1 or queue < 0 or queue_time < 0:
            raise ValueError("concurrency must be at least 1; queue and queue_time 0 or more")
        if shared is not None and shared.count != concurrency:
            raise ValueError("a shared gate's concurrency is its slots' count")
        self.concurrency = concurrency
        self.shared = shared
        self.queue = queue
        self.queue_time = queue_time
        self._slots = asyncio.Semaphore(concurrency)
        self._waiting = 0
        self._threads = ThreadPoolExecutor(
            concurrency, thread_name_prefix="password-check", initializer=yield_to_requests
        )

    @property
    def retry_after(self) -> int:
        """Whole seconds to suggest: the longest a waiting check may wait."""
        return max(1, math.ceil(self.queue_time))

    async def run(self, check: Callable[..., T], *args: object) -> T:
        """``check(*args)`` in a worker thread once a slot is free; :class:`HashingBusy`
        when none frees up within ``queue_time`` or ``queue`` checks already wait."""
        deadline = time.monotonic() + self.queue_time
        await self._acquire()
        work = functools.partial(check, *args)
        abandoned = threading.Event()
        if self.shared is not None:
            work = functools.partial(self._in_shared_slot, self.shared, deadline, abandoned, work)
        try:
            done = asyncio.get_running_loop().run_in_executor(self._threads, work)
        except BaseException:
            self._slots.release()
            raise
        # The slot is freed when the thread returns, not when the caller stops waiting.
        done.add_done_callback(lambda _: self._slots.release())
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            abandoned.set()  # a check still waiting for a shared slot need not run
            raise

    def _in_shared_slot(
        self, lease: SlotLease, deadline: float, abandoned: threading.Event, work: Callable[[], T]
    ) -> T:
        """In the check's thread: wait for one of the server's slots, then check."""
        if not lease.acquire(deadline - time.monotonic()):
            raise self._busy("waited too long for another worker's checks")
        try:
            if abandoned.is_set():
                raise _Abandoned
            return work()
        finally:
            lease.release()

    async def _acquire(self) -> None:
        if not self._slots.locked():
            await self._slots.acquire()  # free: returns without suspending
            return
        if self._waiting >= self.queue:
            raise self._busy("queue full")
        self._waiting += 1
        try:
            async with asyncio.timeout(self.queue_time):
                await self._slots.acquire()
        except TimeoutError:
            raise self._busy("waited too long") from None
        finally:
            self._waiting -= 1

    def _busy(self, reason: str) -> HashingBusy:
        log.warning(
            "password check refused: too many at once",
            extra={
                "event": "password_checks_busy",
                "reason": reason,
                "concurrency": self.concurrency,
                "waiting": self._waiting,
            },
        )
        return HashingBusy(self.retry_after)
