"""``tollhouse serve --workers 2``: the workers share the server's password-check slots
(security/shared_slots.py), and a worker killed mid-check does not leave them short.

The server has 2 slots and no queue (``TOLLHOUSE_PASSWORD_HASH_QUEUE=0``), so a check
that finds no free slot is refused at once with a 503. Two sign-ins at once on
connections to the same worker then both pass only if that worker may use the slot the
other worker leaves idle: with one slot per worker, one of them is refused."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.backends import backend
from tests.e2e.conftest import Seed, Server, free_port, seed_database, start_server, stop
from tests.e2e.flows import Callback, browse, code_params, pkce_pair
from tests.e2e.test_workers import served_by, worker_processes
from tollhouse.web.workers import balanced_sockets_available

pytestmark = pytest.mark.skipif(
    not balanced_sockets_available(), reason="the workers share slots on Linux"
)
SLOTS = {
    "TOLLHOUSE_PASSWORD_HASH_CONCURRENCY": "2",
    "TOLLHOUSE_PASSWORD_HASH_QUEUE": "0",
    "TOLLHOUSE_PASSWORD_HASH_QUEUE_TIME": "0",
    "TOLLHOUSE_LOGIN_LOCKOUT_PER_ADDRESS": "0",
    "TOLLHOUSE_LOGIN_LOCKOUT_PER_ACCOUNT": "0",
    "TOLLHOUSE_RATE_LIMIT_LOGIN_IP": "off",
}


@pytest.fixture(scope="module")
def slots_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("slots")
    with backend(data_dir) as (database_url, backend_args):
        seed = Seed()
        asyncio.run(seed_database(database_url, seed))
        port = free_port()
        process, log_path = start_server(
            data_dir, port, "--workers", "2", *backend_args, env=SLOTS, healthy_within=90
        )
        served = Server(f"http://127.0.0.1:{port}", data_dir, database_url, seed, process, log_path)
        try:
            # The first sign-in raises the seeded (cheap) hash to the server's argon2id
            # parameters, so each check below takes a while.
            assert sign_in(client(served), served.seed) == 302
            yield served
        finally:
            stop(process)


def client(server: Server) -> httpx.Client:
    """One keep-alive connection: every request of a sign-in reaches one worker."""
    return httpx.Client(
        base_url=server.base_url, timeout=30, limits=httpx.Limits(max_connections=1)
    )


def worker_of(response: httpx.Response) -> str:
    return response.headers["x-request-id"].split(".")[0]


def sign_in(http: httpx.Client, seed: Seed) -> int:
    """A browser sign-in on ``http``: 302 when it reached the client, else the status
    of the page that stopped it (503: no slot for the password check)."""
    _, challenge = pkce_pair()
    params = code_params(seed, challenge)
    try:
        result = browse(http, params, username=seed.username, password=seed.password)
    finally:
        http.close()
    return 302 if isinstance(result, Callback) else result.status_code


def two_on_one_worker(server: Server) -> tuple[list[httpx.Client], set[str]]:
    """Two clients whose connections reach the same worker, and the workers that
    answered each request they make (recorded as they go)."""
    answered: set[str] = set()
    by_worker: dict[str, list[httpx.Client]] = {}
    for _ in range(40):  # bounded: each new connection lands on either worker
        http = client(server)
        http.event_hooks["response"] = [lambda response: answered.add(worker_of(response))]
        worker = worker_of(http.get("/healthz"))
        by_worker.setdefault(worker, []).append(http)
        if len(by_worker[worker]) == 2:
            for other in (c for cs in by_worker.values() for c in cs if c not in by_worker[worker]):
                other.close()
            answered.clear()
            return by_worker[worker], answered
    raise AssertionError("no two connections reached one worker")


def pair_of_sign_ins(server: Server) -> tuple[list[int], set[str]]:
    clients, answered = two_on_one_worker(server)
    start = threading.Barrier(2, timeout=30)

    def run(http: httpx.Client) -> int:
        start.wait()
        return sign_in(http, server.seed)

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(run, clients)), answered


def test_one_worker_checks_two_passwords_at_once_while_the_other_is_idle(
    slots_server: Server,
) -> None:
    server = slots_server
    for _ in range(3):
        statuses, answered = pair_of_sign_ins(server)
        assert len(answered) == 1, answered  # every request on the one worker
        assert statuses == [302, 302], statuses


def test_a_worker_killed_mid_check_does_not_leave_the_slots_short(slots_server: Server) -> None:
    """The supervisor gives back what the dead workers held (web/workers.py). (Last in
    this module: it replaces the workers of the shared server.)"""
    server = slots_server
    workers = worker_processes(server)
    assert len(workers) == 2, workers
    stop_signing, checking = threading.Event(), threading.Event()

    def on_request(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path == "/login":
            checking.set()

    def keep_signing_in() -> None:
        while not stop_signing.is_set():
            http = client(server)
            http.event_hooks["request"] = [on_request]
            with contextlib.suppress(httpx.HTTPError):  # its worker was killed
                sign_in(http, server.seed)

    with ThreadPoolExecutor(4) as pool:
        for _ in range(4):
            pool.submit(keep_signing_in)
        assert checking.wait(60), "no password was sent"
        # Four sign-ins for two slots, a refused one trying again at once: the slots
        # stay busy with checks.
        time.sleep(1.0)
        for worker in workers:
            os.kill(int(worker), signal.SIGKILL)
        stop_signing.set()
    deadline = time.monotonic() + 60  # the successor starts within seconds
    while time.monotonic() < deadline:
        try:
            if len(set(served_by(server.base_url, 20))) == 2:
                break
        except (OSError, AssertionError):
            pass  # a connection on a dead worker's socket may wait or be cut
        time.sleep(0.2)
    assert "ended holding" in server.logs(), server.logs()[-3000:]
    for _ in range(3):
        statuses, answered = pair_of_sign_ins(server)
        assert len(answered) == 1, answered
        assert statuses == [302, 302], statuses
