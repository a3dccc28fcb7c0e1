"""``tollhouse serve --workers 2``: both processes serve the code flow, and /metrics from
either one reports the sum over both (prometheus multiprocess mode)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.backends import backend
from tests.e2e.conftest import CALLBACK, Seed, Server, free_port, seed_database, start_server, stop
from tests.e2e.flows import Callback, browse, code_params, exchange, pkce_pair


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("workers")
    with backend(data_dir) as (database_url, backend_args):
        seed = Seed()
        asyncio.run(seed_database(database_url, seed))
        # A leftover from an earlier run must not be counted.
        stale = data_dir / "metrics"
        stale.mkdir()
        (stale / "counter_999999.db").write_bytes(b"\0" * 16)
        port = free_port()
        process, log_path = start_server(
            data_dir, port, "--workers", "2", *backend_args, healthy_within=90
        )
        try:
            yield Server(
                f"http://127.0.0.1:{port}", data_dir, database_url, seed, process, log_path
            )
        finally:
            stop(process)


def worker_pids(metrics_dir: Path) -> set[str]:
    """Processes that have counted something: prometheus keeps one file per pid."""
    return {
        match.group(1)
        for path in metrics_dir.glob("counter_*.db")
        if (match := re.match(r"counter_(\d+)\.db", path.name))
    }


def healthz_total(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    match = re.search(
        r'^tollhouse_http_requests_total\{endpoint="/healthz",status="200"\} (\S+)$', text, re.M
    )
    return float(match.group(1)) if match else 0.0


def test_two_workers_serve_the_code_flow(two_workers: Server) -> None:
    seed = two_workers.seed
    verifier, challenge = pkce_pair()
    params = code_params(seed, challenge)
    # New connection per request, so the two processes share the work.
    with httpx.Client(
        base_url=two_workers.base_url,
        timeout=10,
        limits=httpx.Limits(max_keepalive_connections=0),
    ) as http:
        result = browse(http, params, username=seed.username, password=seed.password)
        assert isinstance(result, Callback), result
        response = exchange(
            http,
            result.code,
            verifier=verifier,
            redirect_uri=CALLBACK,
            auth=(seed.confidential_id, seed.confidential_secret),
        )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"


def test_metrics_aggregate_both_workers(two_workers: Server) -> None:
    metrics_dir = two_workers.data_dir / "metrics"
    assert "999999" not in worker_pids(metrics_dir), "the directory is emptied at start"
    before = healthz_total(two_workers.base_url)
    sent = 0
    deadline = time.monotonic() + 45  # the second worker may still be starting
    with ThreadPoolExecutor(8) as pool:
        while time.monotonic() < deadline:
            statuses = list(
                pool.map(
                    lambda _: httpx.get(f"{two_workers.base_url}/healthz", timeout=30).status_code,
                    range(16),
                )
            )
            assert statuses == [200] * 16
            sent += 16
            if len(worker_pids(metrics_dir)) >= 2:
                break
    # (>= 2: the supervisor may have replaced a worker it found unresponsive.)
    assert len(worker_pids(metrics_dir)) >= 2, (
        f"both workers should have served some of {sent} requests",
        two_workers.logs()[-3000:],
    )
    # Counted just after each response is sent: allow the last ones to land.
    settle = time.monotonic() + 15
    while healthz_total(two_workers.base_url) - before != sent and time.monotonic() < settle:
        time.sleep(0.05)
    # Whichever worker answers /metrics, it reports the requests of both.
    totals = {healthz_total(two_workers.base_url) - before for _ in range(6)}
    assert totals == {sent}, (totals, sent, two_workers.logs()[-3000:])


HEALTH = b"GET /healthz HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n"


def served_by(base_url: str, count: int, *, retry_unanswered: bool = False) -> list[str]:
    """The worker (its request-id prefix) that answered each of ``count`` connections,
    all opened before the first request is sent.

    With ``retry_unanswered``, a connection closed before a single byte of answer is
    tried once more on a new connection, as HTTP clients do for an idempotent request
    (RFC 9112 §9.3.1, RFC 9110 §9.2.2): a worker that is stopping may close a connection
    it accepted before the request on it arrived."""
    host, port = base_url.removeprefix("http://").split(":")
    connections = [socket.create_connection((host, int(port)), 30) for _ in range(count)]
    prefixes = []
    try:
        for connection in connections:
            connection.sendall(HEALTH)
        for connection in connections:
            answer = _answer(connection)
            if not answer and retry_unanswered:
                with socket.create_connection((host, int(port)), 30) as again:
                    again.sendall(HEALTH)
                    answer = _answer(again)
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
            found = re.search(rb"\r\nx-request-id: ([^.\r]+)\.", answer)
            assert found, answer[:400]
            prefixes.append(found.group(1).decode())
    finally:
        for connection in connections:
            connection.close()
    return prefixes


def _answer(connection: socket.socket) -> bytes:
    answer = b""
    while chunk := connection.recv(65536):  # bounded: the server closes
        answer += chunk
    return answer


def test_connections_opened_together_are_spread_over_both_workers(two_workers: Server) -> None:
    """One listening socket per worker (web/workers.py): with uvicorn's one shared socket
    the first worker awake took all the connections waiting, 50 of 50 in some runs."""
    prefixes = served_by(two_workers.base_url, 40)
    counts = sorted(prefixes.count(prefix) for prefix in set(prefixes))
    # By address hash: fewer than 5 of 40 on one worker is a 1-in-5-million chance.
    assert len(counts) == 2 and counts[0] >= 5, counts


def worker_processes(server: Server) -> list[str]:
    """The supervisor's worker processes (multiprocessing spawns them)."""
    found = subprocess.run(
        ["pgrep", "-f", "-P", str(server.process.pid), "spawn_main"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.split()


def test_sighup_replaces_both_workers_on_their_sockets(two_workers: Server) -> None:
    """The supervisor replaces each worker in turn (uvicorn's restart, web/workers.py
    passing each its socket); every request meanwhile is answered."""
    before = set(served_by(two_workers.base_url, 20))
    two_workers.process.send_signal(signal.SIGHUP)
    seen: set[str] = set()
    deadline = time.monotonic() + 60  # bounded: each new worker is up within seconds
    while time.monotonic() < deadline:
        # Each one a 200; a connection a stopping worker closed unread is tried again.
        seen = set(served_by(two_workers.base_url, 20, retry_unanswered=True))
        if len(seen) == 2 and not seen & before:
            break
        time.sleep(0.2)
    assert len(seen) == 2 and not seen & before, (before, seen)
    # The last worker replaced retires once its successor is ready.
    while len(worker_processes(two_workers)) != 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(worker_processes(two_workers)) == 2
    assert two_workers.process.poll() is None


def test_a_killed_worker_is_replaced_on_its_socket(two_workers: Server) -> None:
    """The supervisor keeps each worker's socket open: connections reaching the dead
    worker's socket wait for its successor instead of going unanswered. (Last in this
    module: it replaces a worker of the shared server.)"""
    workers = worker_processes(two_workers)
    assert len(workers) == 2, workers
    before = set(served_by(two_workers.base_url, 20))
    os.kill(int(workers[0]), signal.SIGKILL)
    after = served_by(two_workers.base_url, 40)  # each waits up to 30 s
    assert len(set(after)) == 2, after
    assert len(set(after) - before) == 1, (before, set(after))  # one new worker
