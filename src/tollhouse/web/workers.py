"""``tollhouse serve --workers N``: a listening socket per worker, so that the kernel
spreads connections over the workers.

uvicorn's workers share one listening socket, and the first one awake accepts whatever
is waiting: of 50 connections opened together, two workers got 31 and 19, and in some
runs one got all 50 (``ss``), so two workers served a code exchange like one (1,156
against 1,800-2,050 req/s, bench/RESULTS.md). On Linux each worker here listens on a
socket of its own, all bound to the same address with ``SO_REUSEPORT``: the kernel
hands each new connection to one of them by a hash of its addresses. The supervisor
binds them all and keeps them open, so a worker that is replaced (it died, or SIGHUP)
leaves its socket, and the connections waiting on it, to its successor.

The supervisor is uvicorn's (signals, health checks, replacing workers), with worker
``i`` always started on socket ``i``. The worker count is fixed: SIGTTIN and SIGTTOU,
which add or remove a worker in uvicorn, are ignored here, since a socket without a
worker would leave its share of connections unanswered. Elsewhere (macOS, Windows)
uvicorn's shared socket stays.
"""

from __future__ import annotations

import logging
import socket
import sys

from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

log = logging.getLogger("uvicorn.error")


def balanced_sockets_available() -> bool:
    """Linux spreads connections over a ``SO_REUSEPORT`` group (BSDs give them to the
    last socket bound)."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def bind_worker_sockets(host: str, port: int, count: int, backlog: int) -> list[socket.socket]:
    """``count`` sockets listening on (host, port) in one ``SO_REUSEPORT`` group.

    They listen from here, before any worker runs: a socket joins the group when it
    listens, and had each worker made its own listen, the first worker up would have
    had all the connections made before the others (one run of the benchmark started
    with 50 on one worker). Connections on the socket of a worker still starting wait
    in its backlog.

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


class BalancedWorkers(Multiprocess):
    """uvicorn's supervisor, worker ``i`` on ``sockets[i]`` (module docstring): one
    socket for each of ``config.workers``."""

    def _start(self, index: int) -> Process:
        process = Process(self.config, [self.sockets[index]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._start(index) for index in range(self.processes_num)]

    def restart_all(self) -> None:
        """SIGHUP: each worker's replacement serves on its socket before it retires."""
        for index, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._start(index)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    log.error(
                        f"New worker [{new.pid}] was not ready in time; "
                        f"keeping worker [{old.pid}] and aborting the restart."
                    )
                return
            old.terminate()
            old.join()
            self.processes[index] = new

    def keep_subprocess_alive(self) -> None:
        """Replace a worker that died or hangs, on its socket."""
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                # It failed before serving: the app, TLS or the socket is broken and a
                # new worker would fail the same way.
                log.error(f"Worker [{process.pid}] failed to start, stopping.")
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.info(f"Worker [{process.pid}] died")
            self.processes[index] = self._start(index)

    def handle_ttin(self) -> None:
        log.warning("SIGTTIN ignored: the number of workers is fixed (--workers).")

    def handle_ttou(self) -> None:
        log.warning("SIGTTOU ignored: the number of workers is fixed (--workers).")
