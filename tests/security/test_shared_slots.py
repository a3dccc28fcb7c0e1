"""Password-check slots shared by processes: every process may use all of them, all
together never more, and a killed process's slots come back (security/shared_slots.py).

The holders are real processes spawned as the ``--workers`` supervisor spawns them."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sys
import threading
import time
from multiprocessing.synchronize import Event

import pytest

from tollhouse.security.hash_gate import HashGate, HashingBusy
from tollhouse.security.shared_slots import SharedSlots, SlotLease

CONTEXT = multiprocessing.get_context("spawn")


def hold(lease: SlotLease, wanted: int, holding: Event, done: Event) -> None:
    """In a spawned process: take ``wanted`` slots, say so, keep them until ``done``."""
    for _ in range(wanted):
        if not lease.acquire(10):
            sys.exit(2)
    holding.set()
    done.wait(30)
    for _ in range(wanted):
        lease.release()


def holder(
    slots: SharedSlots, wanted: int
) -> tuple[multiprocessing.process.BaseProcess, SlotLease, Event, Event]:
    lease = slots.lease()
    holding, done = CONTEXT.Event(), CONTEXT.Event()
    process = CONTEXT.Process(target=hold, args=(lease, wanted, holding, done))
    process.start()
    assert holding.wait(30), "the holder never took its slots"
    return process, lease, holding, done


def test_one_process_may_take_every_slot_and_the_others_then_wait() -> None:
    slots = SharedSlots(2, CONTEXT)
    process, lease, _, done = holder(slots, 2)
    here = slots.lease()
    try:
        assert lease.held == 2
        assert slots.free() == 0
        started = time.monotonic()
        assert not here.acquire(0.2)
        assert time.monotonic() - started >= 0.15
        assert here.held == 0
    finally:
        done.set()
        process.join(10)
    assert process.exitcode == 0
    assert lease.held == 0
    assert slots.free() == 2
    assert here.acquire(0)
    here.release()


def test_a_killed_holder_s_slots_are_given_back_by_reclaim() -> None:
    slots = SharedSlots(3, CONTEXT)
    process, lease, _, _ = holder(slots, 2)
    assert slots.free() == 1
    os.kill(process.pid or 0, signal.SIGKILL)
    process.join(10)
    assert slots.free() == 1  # the semaphore cannot know
    assert slots.reclaim(lease) == 2
    assert slots.free() == 3
    assert slots.reclaim(lease) == 0  # once only


def test_a_surplus_slot_given_back_never_raises_the_total() -> None:
    """A process killed between counting a slot and taking it is credited one too many
    (module docstring): the semaphore stays bounded by the count."""
    slots = SharedSlots(2, CONTEXT)
    ghost = slots.lease()
    ghost._add(1)  # counted, killed before the semaphore gave it a slot
    live = slots.lease()
    assert live.acquire(0)
    assert slots.reclaim(ghost) == 1  # one surplus release: 2 free while 1 is held
    live.release()  # finds the semaphore full: dropped
    assert slots.free() == 2
    taken = [live.acquire(0) for _ in range(3)]
    assert taken == [True, True, False]


async def test_gates_in_two_processes_share_the_slots() -> None:
    """A gate on a lease runs up to the count when the other holders are idle, and
    refuses (503) within its deadline while they hold every slot."""
    slots = SharedSlots(2, CONTEXT)
    gate = HashGate(2, queue=4, queue_time=0.3, shared=slots.lease())
    both = threading.Barrier(2, timeout=5)
    assert await asyncio.gather(gate.run(both.wait), gate.run(both.wait)) in ([0, 1], [1, 0])
    process, _, _, done = holder(slots, 2)
    try:
        started = time.monotonic()
        with pytest.raises(HashingBusy):
            await gate.run(int, 1)
        assert 0.2 <= time.monotonic() - started < 3
    finally:
        done.set()
        process.join(10)
    assert await gate.run(int, 7) == 7
    assert gate.shared is not None and gate.shared.held == 0


def test_a_shared_gate_runs_as_many_threads_as_slots() -> None:
    slots = SharedSlots(2, CONTEXT)
    with pytest.raises(ValueError):
        HashGate(1, queue=1, queue_time=1, shared=slots.lease())
