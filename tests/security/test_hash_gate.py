"""The bound on password checks at once: slots, a bounded queue with a deadline, 503."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Callable

import pytest

from tollhouse.errors import TemporarilyUnavailable
from tollhouse.security.hash_gate import (
    CHECK_NICENESS,
    HashGate,
    HashingBusy,
    default_concurrency,
)


class Checks:
    """Blocking checks that hold their thread until released, counting how many run."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def check(self, value: int) -> int:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.release.wait(10)
        with self._lock:
            self.running -= 1
        return value


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):  # 5 s at most
        if condition():
            return
        await asyncio.sleep(0.005)


async def test_no_more_than_concurrency_checks_run_at_once() -> None:
    gate = HashGate(concurrency=2, queue=10, queue_time=10)
    checks = Checks()
    runs = [asyncio.create_task(gate.run(checks.check, n)) for n in range(6)]
    await until(lambda: checks.running == 2)
    await asyncio.sleep(0.05)
    assert checks.running == 2
    checks.release.set()
    assert await asyncio.gather(*runs) == list(range(6))
    assert checks.most == 2


async def test_a_full_queue_refuses_at_once_with_retry_after() -> None:
    gate = HashGate(concurrency=1, queue=2, queue_time=3)
    checks = Checks()
    runs = [asyncio.create_task(gate.run(checks.check, n)) for n in range(3)]
    await until(lambda: checks.running == 1)
    started = time.monotonic()
    with pytest.raises(HashingBusy) as refused:
        await gate.run(checks.check, 99)
    assert time.monotonic() - started < 0.5
    assert refused.value.retry_after == 3
    assert isinstance(refused.value, TemporarilyUnavailable)
    assert refused.value.status == 503
    assert refused.value.error == "temporarily_unavailable"
    checks.release.set()
    assert await asyncio.gather(*runs) == [0, 1, 2]


async def test_a_check_waiting_past_the_deadline_is_refused() -> None:
    gate = HashGate(concurrency=1, queue=5, queue_time=0.2)
    checks = Checks()
    first = asyncio.create_task(gate.run(checks.check, 1))
    await until(lambda: checks.running == 1)
    started = time.monotonic()
    with pytest.raises(HashingBusy) as refused:
        await gate.run(checks.check, 2)
    assert 0.15 <= time.monotonic() - started < 1.5
    assert refused.value.retry_after == 1
    checks.release.set()
    assert await first == 1
    assert await gate.run(checks.check, 3) == 3  # the slot and the queue are free again


async def test_a_cancelled_request_holds_its_slot_until_its_thread_ends() -> None:
    """A thread cannot be stopped: its memory is in use until it returns."""
    gate = HashGate(concurrency=1, queue=0, queue_time=0)
    checks = Checks()
    first = asyncio.create_task(gate.run(checks.check, 1))
    await until(lambda: checks.running == 1)
    first.cancel()
    await asyncio.sleep(0.05)
    with pytest.raises(HashingBusy):
        await gate.run(checks.check, 2)
    checks.release.set()
    with pytest.raises(asyncio.CancelledError):
        await first
    await until(lambda: checks.running == 0)
    await asyncio.sleep(0.05)  # the thread's end frees the slot on the loop
    assert await gate.run(checks.check, 3) == 3


def thread_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")
async def test_checks_run_at_the_lowest_priority_and_the_loop_keeps_its_own() -> None:
    """The event loop's thread gets the CPU before the checks (security/hash_gate.py)."""
    before = thread_niceness()
    gate = HashGate(concurrency=2, queue=0, queue_time=0)
    assert await gate.run(thread_niceness) == CHECK_NICENESS == 19
    assert thread_niceness() == before


def test_default_concurrency_is_the_cpus_shared_by_the_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1, 2, 3}, raising=False)
    assert default_concurrency(1) == 4
    assert default_concurrency(2) == 2
    assert default_concurrency(8) == 1


@pytest.mark.parametrize(("concurrency", "queue", "queue_time"), [(0, 1, 1), (1, -1, 1)])
def test_nonsense_bounds_are_refused(concurrency: int, queue: int, queue_time: float) -> None:
    with pytest.raises(ValueError):
        HashGate(concurrency, queue, queue_time)
