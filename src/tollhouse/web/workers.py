"""``tollhouse serve --workers N``: N uvicorn processes, each on a listening socket of its
own, so that the kernel spreads connections over the workers.

Workers sharing one listening socket (uvicorn's ``--workers``) take connections as they
wake: of many connections opened together, one worker sometimes got them all
(bench/RESULTS.md). On Linux each worker here listens on a socket of its own, all bound
to the same address with ``SO_REUSEPORT``: the kernel hands each new connection to one
of them by a hash of its addresses. The supervisor binds them all and keeps them open,
so a worker that is replaced (it died, or SIGHUP) leaves its socket, and the
connections waiting on it, to its successor.

The supervisor is ours and small, and knows nothing of uvicorn: each process runs a
``target`` (``web/worker_process.py``'s ``serve_worker``). It starts worker ``i`` on
socket ``i``, replaces a worker that dies, stops everything when a worker fails before serving (the
app, TLS or the database is broken, and a new one would fail the same way), replaces
the workers one at a time on SIGHUP (each new one serving before the old one retires;
new connections get a re-read certificate), and stops on SIGINT/SIGTERM. The worker
count is fixed: a socket without a worker would leave its share of connections
unanswered. Elsewhere (macOS, Windows) uvicorn's shared socket stays.

The supervisor also makes the password-check slots the workers share
(security/shared_slots.py) and gives each process a lease on them; when a process has
ended, however it ended, it gives back the slots that process still held.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event
from types import FrameType
from typing import Any

from tollhouse.security.shared_slots import SharedSlots, SlotLease

log = logging.getLogger("tollhouse.workers")

START_FAILED = 3
"""A worker's exit status when it stopped before serving."""
Target = Callable[[dict[str, Any], socket.socket, Event, SlotLease | None], None]
"""What a worker process runs: ``target(options, sock, ready, slots)`` serves on
``sock``, sets ``ready`` once it serves, and exits with :data:`START_FAILED` if it never
did; ``slots`` is its lease on the shared password-check slots, if any."""
READY_TIMEOUT = 60.0
"""Seconds a new worker may take to serve before a SIGHUP restart is abandoned."""
HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU)
STOP_TIMEOUT = 15.0
"""Seconds a stopping worker may take to finish its requests before it is killed."""


def balanced_sockets_available() -> bool:
    """Linux spreads connections over a ``SO_REUSEPORT`` group (BSDs give them to the
    last socket bound)."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def bind_worker_sockets(host: str, port: int, count: int, backlog: int) -> list[socket.socket]:
    """``count`` sockets listening on (host, port) in one ``SO_REUSEPORT`` group.

    They listen from here, before any worker runs: a socket joins the group when it
    listens, and had each worker made its own listen, the first worker up would have
    had all the connections made before the others. Connections on the socket of a
    worker still starting wait in its backlog.

    The address is first bound alone: a group would also join another server's group on
    the same port (same user), where the two would silently share the traffic; bound
    alone, any server already there makes it fail with EADDRINUSE, as without workers.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as alone:
        alone.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        alone.bind((host, port))
        port = alone.getsockname()[1]  # port 0: the one the system chose
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(backlog)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class BalancedWorkers:
    """The supervisor (module docstring): worker ``i`` on ``sockets[i]``, the workers
    sharing ``password_slots`` password-check slots (none: no lease is given)."""

    def __init__(
        self,
        target: Target,
        options: dict[str, Any],
        sockets: list[socket.socket],
        password_slots: int = 0,
    ) -> None:
        self.target = target
        self.options = options
        self.sockets = sockets
        self.processes: list[Worker] = []
        self.signals: list[int] = []
        self._wake = threading.Event()
        self._context = multiprocessing.get_context("spawn")
        self.slots = SharedSlots(password_slots, self._context) if password_slots else None

    def _start(self, index: int) -> Worker:
        ready = self._context.Event()
        lease = self.slots.lease() if self.slots is not None else None
        process = self._context.Process(
            target=self.target,
            args=(self.options, self.sockets[index], ready, lease),
            name=f"tollhouse-worker-{index}",
        )
        process.start()
        return Worker(process, ready, lease)

    def _ended(self, worker: Worker) -> None:
        """After ``worker``'s process was joined: the slots it held are free again."""
        if self.slots is None or worker.lease is None:
            return
        held = self.slots.reclaim(worker.lease)
        if held:
            log.warning(f"Worker [{worker.process.pid}] ended holding {held} password slots.")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals.append(signum)
        self._wake.set()

    def run(self) -> int:
        """Supervise until SIGINT/SIGTERM or a worker that fails to start; the exit
        status for the command (0, or :data:`START_FAILED`)."""
        handlers = {signum: signal.getsignal(signum) for signum in HANDLED}
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        for signum in (signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(signum, signal.SIG_IGN)  # the worker count is fixed
        try:
            self.processes = [self._start(index) for index in range(len(self.sockets))]
            return self._supervise()
        finally:
            self.stop_all()
            for signum, handler in handlers.items():
                signal.signal(signum, handler)

    def _supervise(self) -> int:
        while True:
            self._wake.wait(0.5)
            self._wake.clear()
            signals, self.signals = self.signals, []
            if signal.SIGINT in signals or signal.SIGTERM in signals:
                return 0
            if signal.SIGHUP in signals:
                self.restart_all()
            status = self.replace_dead()
            if status:
                return status

    def replace_dead(self) -> int:
        """Start a successor for each worker that died; :data:`START_FAILED` if one had
        failed before serving."""
        for index, worker in enumerate(self.processes):
            process = worker.process
            if process.is_alive():
                continue
            process.join()
            self._ended(worker)
            if process.exitcode == START_FAILED:
                log.error(f"Worker [{process.pid}] failed to start, stopping.")
                return START_FAILED
            log.warning(f"Worker [{process.pid}] died ({process.exitcode}); replacing it.")
            self.processes[index] = self._start(index)
        return 0

    def restart_all(self) -> None:
        """SIGHUP: each worker's replacement serves on its socket before it retires."""
        log.info("SIGHUP: replacing the workers one at a time.")
        for index, old in enumerate(self.processes):
            new = self._start(index)
            if not self._ready(new.process, new.ready):
                self._kill(new)
                log.error(
                    f"New worker [{new.process.pid}] was not ready in time; "
                    f"keeping worker [{old.process.pid}] and abandoning the restart."
                )
                return
            self._stop(old)
            self.processes[index] = new

    def _ready(self, process: SpawnProcess, ready: Event) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and process.is_alive():
            if ready.wait(0.1):
                return True
            if signal.SIGINT in self.signals or signal.SIGTERM in self.signals:
                return False
        return False

    def _stop(self, worker: Worker) -> None:
        worker.process.terminate()
        worker.process.join(STOP_TIMEOUT)
        self._kill(worker)

    def _kill(self, worker: Worker) -> None:
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
        self._ended(worker)

    def stop_all(self) -> None:
        for worker in self.processes:
            worker.process.terminate()
        for worker in self.processes:
            self._stop(worker)


@dataclass(frozen=True, slots=True)
class Worker:
    """One worker process, its readiness event, and its lease on the password slots."""

    process: SpawnProcess
    ready: Event
    lease: SlotLease | None
