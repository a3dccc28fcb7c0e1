"""web/workers.py: one listening socket per worker in a SO_REUSEPORT group, on the real
kernel over 127.0.0.1, and the supervisor that keeps a worker on each."""

from __future__ import annotations

import errno
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Iterator
from multiprocessing.synchronize import Event
from typing import Any

import httpx
import pytest

from tollhouse.security.shared_slots import SlotLease
from tollhouse.web.worker_process import serve_worker
from tollhouse.web.workers import (
    START_FAILED,
    BalancedWorkers,
    balanced_sockets_available,
    bind_worker_sockets,
)

pytestmark = pytest.mark.skipif(
    not balanced_sockets_available(), reason="SO_REUSEPORT balancing is Linux's"
)


@pytest.fixture
def group() -> Iterator[list[socket.socket]]:
    sockets = bind_worker_sockets("127.0.0.1", 0, 2, 128)
    yield sockets
    for sock in sockets:
        sock.close()


def accepted_by_each(sockets: list[socket.socket], expected: int) -> list[int]:
    """Accept until ``expected`` connections are in (bounded: 5 s)."""
    counts = [0] * len(sockets)
    for _ in range(100):
        ready, _, _ = select.select(sockets, [], [], 0.05)
        for sock in ready:
            connection, _ = sock.accept()
            connection.close()
            counts[sockets.index(sock)] += 1
        if sum(counts) == expected:
            break
    return counts


def test_the_sockets_share_one_port_and_listen_before_any_worker(
    group: list[socket.socket],
) -> None:
    ports = {sock.getsockname()[1] for sock in group}
    assert len(ports) == 1
    port = ports.pop()
    clients = [socket.create_connection(("127.0.0.1", port), 5) for _ in range(40)]
    counts = accepted_by_each(group, 40)
    for client in clients:
        client.close()
    # Spread by address hash: fewer than 5 of 40 on one is a 1-in-5-million chance.
    assert sum(counts) == 40 and min(counts) >= 5, counts


def test_a_port_in_use_by_a_plain_server_is_refused() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(OSError) as refused:
            bind_worker_sockets("127.0.0.1", other.getsockname()[1], 2, 128)
    assert refused.value.errno == errno.EADDRINUSE


def test_a_second_group_on_the_same_port_is_refused(group: list[socket.socket]) -> None:
    """Another ``--workers`` server on the same port would otherwise join the group and
    silently take half of the traffic."""
    with pytest.raises(OSError) as refused:
        bind_worker_sockets("127.0.0.1", group[0].getsockname()[1], 2, 128)
    assert refused.value.errno == errno.EADDRINUSE


def options(app: str) -> dict[str, Any]:
    return {"app": app, "lifespan": "on", "log_config": None, "access_log": False}


def test_a_worker_that_cannot_start_stops_the_supervisor(group: list[socket.socket]) -> None:
    """A new worker would fail the same way: no restart loop, a failed exit status."""
    supervisor = BalancedWorkers(serve_worker, options("tests.web.worker_apps:never_starts"), group)
    assert supervisor.run() == START_FAILED


def test_a_killed_worker_is_replaced_on_its_socket(group: list[socket.socket]) -> None:
    supervisor = BalancedWorkers(serve_worker, options("tests.web.worker_apps:serves"), group[:1])
    port = group[0].getsockname()[1]
    pids: list[str] = []

    def drive() -> None:
        for _ in range(2):
            pids.append(first_answer(port))
            os.kill(int(pids[-1]), signal.SIGKILL)
        pids.append(first_answer(port))
        os.kill(os.getpid(), signal.SIGTERM)  # the supervisor's own stop

    driver = threading.Thread(target=drive)
    driver.start()
    assert supervisor.run() == 0
    driver.join()
    assert len(set(pids)) == 3, pids


def first_answer(port: int) -> str:
    """The body of the first 200 from the worker on ``port`` (bounded: 60 s)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("no worker answered")


def grabs_slots(
    options: dict[str, Any], sock: socket.socket, ready: Event, slots: SlotLease | None
) -> None:
    """A worker that takes every password-check slot it can get within 3 s, then
    answers each connection with its pid and how many it holds, until killed."""
    assert slots is not None
    held = sum(slots.acquire(3) for _ in range(slots.count))
    ready.set()
    while True:
        connection, _ = sock.accept()
        connection.sendall(f"{os.getpid()} {held}".encode())
        connection.close()


def answer_of(port: int) -> tuple[int, int]:
    """(pid, slots held) of the worker on ``port`` (bounded: 60 s)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 5) as connection:
                pid, held = connection.recv(100).decode().split()
                return int(pid), int(held)
        except (OSError, ValueError):
            time.sleep(0.1)
    raise AssertionError("no worker answered")


def test_a_killed_worker_s_password_slots_go_to_its_successor(
    group: list[socket.socket],
) -> None:
    """Slots a worker held when it was killed are given back once it has ended, so the
    gate is never left short (security/shared_slots.py)."""
    supervisor = BalancedWorkers(grabs_slots, {}, group[:1], password_slots=2)
    port = group[0].getsockname()[1]
    answers: list[tuple[int, int]] = []

    def drive() -> None:
        for _ in range(2):
            answers.append(answer_of(port))
            os.kill(answers[-1][0], signal.SIGKILL)
        answers.append(answer_of(port))
        os.kill(os.getpid(), signal.SIGTERM)

    driver = threading.Thread(target=drive)
    driver.start()
    assert supervisor.run() == 0
    driver.join()
    assert [held for _, held in answers] == [2, 2, 2], answers
    assert len({pid for pid, _ in answers}) == 3
    assert supervisor.slots is not None and supervisor.slots.free() == 2  # stopped: all back
