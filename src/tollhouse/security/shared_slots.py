"""Password-check slots shared by the ``--workers`` processes of one server.

Each worker bounding its own checks to its share of the cores leaves cores idle: the
kernel spreads connections at random, so one worker's queue waits while another worker
has nothing to check. The supervisor instead makes one counting semaphore of ``count``
slots before it starts the workers (a POSIX named semaphore that multiprocessing hands
to each process it spawns), and every worker's checks take their slot from it: any
worker may run up to ``count`` checks, all of them together never more.

A process killed while it holds slots cannot give them back, and a POSIX semaphore
does not notice the death. So each worker process gets a :class:`SlotLease` with a
shared counter of what it holds; once the process has ended, the supervisor gives back
what the counter says (:meth:`SharedSlots.reclaim`). The counter is raised before a
slot is taken and lowered after it is given back, so a process killed between the two
steps is credited with one slot too many, never too few: the supervisor's surplus
release then leaves one extra slot in the semaphore until a release finds it full
(a bounded semaphore refuses to pass ``count``; the release is then dropped), and the
total is back to ``count``. A slot is never lost for good.
"""

from __future__ import annotations

import contextlib
import threading
from ctypes import c_int
from multiprocessing.context import SpawnContext
from multiprocessing.synchronize import BoundedSemaphore
from typing import Any


class SlotLease:
    """One worker process's way to the shared slots, and its count of those it holds.

    Made by the supervisor for one process and passed to it when it is spawned; the
    threads of that process share it."""

    def __init__(self, free: BoundedSemaphore, held: c_int, count: int) -> None:
        self._free = free
        self._held = held
        self._lock = threading.Lock()
        self.count = count
        """Slots in all (for every process together)."""

    def __getstate__(self) -> dict[str, Any]:
        return {"free": self._free, "held": self._held, "count": self.count}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["free"], state["held"], state["count"])  # type: ignore[misc]

    @property
    def held(self) -> int:
        """Slots this process holds, or is about to take or has just given back."""
        return int(self._held.value)

    def acquire(self, timeout: float) -> bool:
        """Take a slot, waiting at most ``timeout`` seconds; blocks: call it off the
        event loop."""
        self._add(1)
        taken = False
        try:
            taken = self._free.acquire(timeout=max(0.0, timeout))
        finally:
            if not taken:
                self._add(-1)
        return taken

    def release(self) -> None:
        # Full already: a dead process's surplus slot went back first (module docstring).
        with contextlib.suppress(ValueError):
            self._free.release()
        self._add(-1)

    def forget(self) -> int:
        """For the supervisor, once the process has ended: what it held, now zero."""
        with self._lock:
            held, self._held.value = self._held.value, 0
        return int(held)

    def _add(self, step: int) -> None:
        with self._lock:
            self._held.value += step


class SharedSlots:
    """``count`` slots for the processes the supervisor starts from ``context``."""

    def __init__(self, count: int, context: SpawnContext) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        self.count = count
        self._context = context
        self._free = context.BoundedSemaphore(count)

    def lease(self) -> SlotLease:
        """A lease for one new process (a fresh count: a successor never shares one)."""
        held: c_int = self._context.RawValue(c_int, 0)
        return SlotLease(self._free, held, self.count)

    def reclaim(self, lease: SlotLease) -> int:
        """Give back what the ended process of ``lease`` held; how many that was."""
        held = lease.forget()
        for _ in range(held):
            with contextlib.suppress(ValueError):
                self._free.release()
        return held

    def free(self) -> int:
        """Slots free now (Linux; the BSDs' semaphores cannot say)."""
        return int(self._free.get_value())
