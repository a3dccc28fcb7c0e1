"""The access log of a real ``tollhouse serve``: the same line, byte for byte, for every
kind of request, whether it goes to a file (``TOLLHOUSE_ACCESS_LOG``) or to stderr.

``GOLDEN`` holds the lines the server wrote for :func:`requests` before the access log
had a writer of its own (through the ``logging`` module), with the three values that
change from run to run replaced (:func:`masked`). Each line must also be exactly what
``json.dumps`` writes for its parsed content (:func:`assert_dumps_form`): same keys in the
same order, same escaping, same number formatting.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.e2e.conftest import (
    NO_REQUEST_LIMITS,
    TOLLHOUSE,
    Seed,
    free_port,
    seed_database,
    stop,
    wait_healthy,
)
from tests.e2e.flows import code_params, pkce_pair

GOLDEN = [
    '{"ts":TS,"level":"info","logger":"tollhouse.access","msg":"request","request_id":"ID","method":"POST","path":"/token","status":200,"ms":MS,"client":"127.0.0.1"}',
    '{"ts":TS,"level":"info","logger":"tollhouse.access","msg":"request","request_id":"ID","method":"POST","path":"/token","status":401,"ms":MS,"client":"127.0.0.1","error":"invalid_client"}',
    '{"ts":TS,"level":"info","logger":"tollhouse.access","msg":"request","request_id":"ID","method":"POST","path":"/introspect","status":200,"ms":MS,"client":"127.0.0.1"}',
    '{"ts":TS,"level":"info","logger":"tollhouse.access","msg":"request","request_id":"ID","method":"GET","path":"/jwks.json","status":200,"ms":MS,"client":"127.0.0.1"}',
    '{"ts":TS,"level":"info","logger":"tollhouse.access","msg":"request","request_id":"ID","method":"HEAD","path":"/jwks.json","status":200,"ms":MS,"client":"127.0.0.1"}',
    '{"ts":TS,"level":"info","logger":"tollhouse.access","msg":"request","request_id":"ID","method":"GET","path":"/.well-known/openid-configuration","status":200,"ms":MS,"client":"127.0.0.1"}',
    '{"ts":TS,"level":"info","logger":"tollhouse.access","msg":"request","request_id":"ID","method":"DELETE","path":"/token","status":405,"ms":MS,"client":"127.0.0.1","error":"invalid_request"}',
    '{"ts":TS,"level":"info","logger":"tollhouse.access","msg":"request","request_id":"ID","method":"GET","path":"/authorize","status":400,"ms":MS,"client":"127.0.0.1","error":"invalid_client"}',
    '{"ts":TS,"level":"info","logger":"tollhouse.access","msg":"request","request_id":"ID","method":"GET","path":"/authorize","status":303,"ms":MS,"client":"127.0.0.1"}',
    '{"ts":TS,"level":"info","logger":"tollhouse.access","msg":"request","request_id":"ID","method":"GET","path":"/login","status":200,"ms":MS,"client":"127.0.0.1"}',
    '{"ts":TS,"level":"info","logger":"tollhouse.access","msg":"request","request_id":"ID","method":"GET","path":"/login","status":400,"ms":MS,"client":"127.0.0.1","error":"invalid_request"}',
    '{"ts":TS,"level":"info","logger":"tollhouse.access","msg":"request","request_id":"ID","method":"GET","path":"/userinfo","status":401,"ms":MS,"client":"127.0.0.1","error":"invalid_token"}',
    '{"ts":TS,"level":"info","logger":"tollhouse.access","msg":"request","request_id":"ID","method":"GET","path":"/caf\\u00e9/\\"q\\"\\\\\\n\\u007f\\u2028","status":404,"ms":MS,"client":"127.0.0.1","error":null}',
]


@dataclass
class Started:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Seed]:
    """A data directory whose SQLite database holds the e2e seed; the servers of this
    module run on it one after the other."""
    data_dir = tmp_path_factory.mktemp("seeded")
    seed = Seed()
    asyncio.run(seed_database(f"sqlite:///{data_dir / 'tollhouse.db'}", seed))
    return data_dir, seed


def serve(
    data_dir: Path, *extra: str, env: dict[str, str] | None = None, stderr: int | IO[bytes]
) -> Started:
    """``tollhouse serve`` on plain HTTP; stdout to a file, stderr where given."""
    port = free_port()
    log_path = data_dir / f"stdout-{port}.log"
    with log_path.open("wb") as handle:
        process = subprocess.Popen(
            [
                str(TOLLHOUSE),
                "serve",
                "--insecure-http",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                *extra,
            ],
            stdout=handle,
            stderr=stderr,
            env={**os.environ, **NO_REQUEST_LIMITS, **(env or {})},
        )
    base_url = f"http://127.0.0.1:{port}"
    wait_healthy(base_url, process, log_path)
    return Started(base_url, process, log_path)


class Collected:
    """Everything a pipe carries, read on a thread until it closes."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self._chunks: list[bytes] = []
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: IO[bytes]) -> None:
        for chunk in iter(lambda: pipe.read1(65536), b""):
            self._chunks.append(chunk)

    def text(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")

    def close(self, pipe: IO[bytes]) -> None:
        """Once the writer has exited: read to the end, then close."""
        self._thread.join(10)
        pipe.close()


def requests(base_url: str, seed: Seed) -> list[str]:
    """One of each kind of request; the request ids, in order."""
    secret = seed.confidential_secret
    _, challenge = pkce_pair()
    with httpx.Client(base_url=base_url, timeout=10) as http:
        issued = http.post(
            "/token", data={"grant_type": "client_credentials"}, auth=(seed.machine_id, secret)
        )
        responses = [
            issued,
            http.post("/token", data={"grant_type": "client_credentials"}, auth=("nobody", "x")),
            http.post(
                "/introspect",
                data={"token": issued.json()["access_token"]},
                auth=(seed.resource_server_id, secret),
            ),
            http.get("/jwks.json"),
            http.head("/jwks.json"),
            http.get("/.well-known/openid-configuration"),
            http.delete("/token"),
            http.get("/authorize", params={"client_id": "nobody", "response_type": "code"}),
            authorize := http.get(
                "/authorize",
                params=code_params(seed, challenge, state="s"),
            ),
            http.get(httpx.URL(authorize.headers["location"]).raw_path.decode()),
            http.get("/login"),
            http.get("/userinfo", headers={"Authorization": "Bearer not-a-token"}),
            http.get("/caf%C3%A9/%22q%22%5C%0A%7F%E2%80%A8"),
        ]
    return [response.headers["x-request-id"] for response in responses]


def access_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if '"logger":"tollhouse.access"' in line]


def wait_for(read: Callable[[], str], request_ids: list[str], timeout: float = 10) -> list[str]:
    """The access lines of ``request_ids``, in that order, once all are written."""
    deadline = time.monotonic() + timeout
    while True:
        by_id = {json.loads(line).get("request_id"): line for line in access_lines(read())}
        if all(request_id in by_id for request_id in request_ids):
            return [by_id[request_id] for request_id in request_ids]
        if time.monotonic() > deadline:
            missing = [request_id for request_id in request_ids if request_id not in by_id]
            pytest.fail(f"no access line for {missing}:\n{read()}")
        time.sleep(0.05)


def masked(line: str) -> str:
    line = re.sub(r'^\{"ts":[0-9.e+-]+,', '{"ts":TS,', line)
    line = re.sub(r'"request_id":"[^"]+"', '"request_id":"ID"', line)
    return re.sub(r'"ms":[0-9.e+-]+,', '"ms":MS,', line)


def assert_dumps_form(line: str) -> None:
    parsed = json.loads(line)
    assert json.dumps(parsed, separators=(",", ":")) == line
    assert parsed["ts"] == round(parsed["ts"], 3) and parsed["ms"] == round(parsed["ms"], 2)


@pytest.mark.parametrize("sink", ["file", "stderr"])
def test_every_kind_of_request_gets_the_same_line_as_before(
    seeded: tuple[Path, Seed], tmp_path: Path, sink: str
) -> None:
    data_dir, seed = seeded
    access = tmp_path / "access.log"
    if sink == "file":
        started = serve(
            data_dir, env={"TOLLHOUSE_ACCESS_LOG": str(access)}, stderr=subprocess.STDOUT
        )
        read = lambda: access.read_text() if access.exists() else ""  # noqa: E731
    else:
        started = serve(data_dir, stderr=subprocess.PIPE)
        assert started.process.stderr is not None
        collected = Collected(started.process.stderr)
        read = collected.text
    try:
        lines = wait_for(read, requests(started.base_url, seed))
    finally:
        stop(started.process)
        if started.process.stderr is not None:
            collected.close(started.process.stderr)
    for line in lines:
        assert_dumps_form(line)
    assert [masked(line) for line in lines] == GOLDEN
    if sink == "file":
        assert stat.S_IMODE(access.stat().st_mode) == 0o600  # it holds client addresses


def test_at_level_warning_no_access_line_is_written(
    seeded: tuple[Path, Seed], tmp_path: Path
) -> None:
    data_dir, _ = seeded
    access = tmp_path / "access.log"
    env = {"TOLLHOUSE_ACCESS_LOG": str(access), "TOLLHOUSE_LOG_LEVEL": "warning"}
    started = serve(data_dir, env=env, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=started.base_url, timeout=10) as http:
            assert http.get("/jwks.json").status_code == 200
            assert http.get("/nowhere").status_code == 404
    finally:
        stop(started.process)
    assert access.read_text() == ""
    assert not access_lines(started.log_path.read_text())


def test_access_log_off_writes_audit_lines_and_no_access_line(
    seeded: tuple[Path, Seed], tmp_path: Path
) -> None:
    """``TOLLHOUSE_ACCESS_LOG=off`` drops the access log alone, at the default level; a
    SIGHUP (logrotate) finds nothing to reopen and the server serves on."""
    data_dir, seed = seeded
    started = serve(data_dir, env={"TOLLHOUSE_ACCESS_LOG": "off"}, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=started.base_url, timeout=10) as http:
            auth = (seed.machine_id, seed.confidential_secret)
            cc = {"grant_type": "client_credentials"}
            assert http.post("/token", data=cc, auth=auth).status_code == 200
            started.process.send_signal(signal.SIGHUP)
            assert http.post("/token", data=cc, auth=auth).status_code == 200
            assert http.get("/nowhere").status_code == 404
    finally:
        stop(started.process)
    text = started.log_path.read_text()
    issued = [line for line in text.splitlines() if '"msg":"token issued"' in line]
    assert len(issued) == 2, text
    assert not access_lines(text), text


# A destination that stalls -------------------------------------------------------------


def dropped_metric(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    found = re.search(r"^tollhouse_access_log_dropped_total (\S+)$", text, re.M)
    assert found, text
    return float(found.group(1))


def notices(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in access_lines(text) if '"dropped":' in line]


def test_a_stderr_nobody_reads_costs_counted_lines_never_an_answer(
    seeded: tuple[Path, Seed],
) -> None:
    data_dir, _ = seeded
    read, write = os.pipe()
    try:
        started = serve(data_dir, env={"TOLLHOUSE_ACCESS_LOG_BUFFER": "65536"}, stderr=write)
    finally:
        os.close(write)
    reader = os.fdopen(read, "rb")
    collected = None
    try:
        # Nobody reads: the pipe fills, then the writer's buffer; every request is still
        # answered (a request waiting for the pipe would time out here).
        with httpx.Client(base_url=started.base_url, timeout=10) as http:
            for sent in range(1, 5001):
                assert http.get("/jwks.json").status_code == 200
                if sent % 200 == 0 and dropped_metric(started.base_url) > 0:
                    break
            assert dropped_metric(started.base_url) > 0

            collected = Collected(reader)  # the reader comes back
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                assert http.get("/jwks.json").status_code == 200
                total = dropped_metric(started.base_url)
                marked = sum(int(str(n["dropped"])) for n in notices(collected.text()))
                if marked == total:
                    break
                time.sleep(0.1)
        assert marked == total > 0
        notice = notices(collected.text())[0]
        assert notice["msg"] == f"{notice['dropped']} access log lines dropped"
        assert notice["level"] == "warning"
        for line in collected.text().splitlines():
            if line.startswith("{"):
                json.loads(line)  # every line whole
    finally:
        stop(started.process)
        if collected is not None:
            collected.close(reader)
        else:
            reader.close()


def stopped_listening(base_url: str) -> None:
    port = httpx.URL(base_url).port
    assert port is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return
        time.sleep(0.02)
    pytest.fail("the server kept listening after SIGTERM")


def test_lines_still_waiting_when_the_server_stops_are_written(
    seeded: tuple[Path, Seed],
) -> None:
    data_dir, _ = seeded
    read, write = os.pipe()
    try:
        started = serve(data_dir, stderr=write)
    finally:
        os.close(write)
    reader = os.fdopen(read, "rb")
    # More lines than the pipe holds: some wait in the writer's buffer.
    with httpx.Client(base_url=started.base_url, timeout=10) as http:
        ids = [http.get("/jwks.json").headers["x-request-id"] for _ in range(600)]
    started.process.terminate()  # SIGTERM: uvicorn's graceful stop
    stopped_listening(started.base_url)
    time.sleep(0.3)  # the server is stopping; only its drain can still write the lines
    collected = Collected(reader)
    try:
        started.process.wait(15)
    finally:
        stop(started.process)
        collected.close(reader)
    written = {json.loads(line)["request_id"] for line in access_lines(collected.text())}
    assert set(ids) <= written
    assert not notices(collected.text())


# --workers: one writer per process, lines never split ----------------------------------


def fan_out(base_url: str, clients: int, each: int) -> list[str]:
    """Requests on new connections from several threads (spread over the workers); their
    request ids."""
    ids: list[str] = []

    def run() -> None:
        with httpx.Client(base_url=base_url, timeout=10, headers={"Connection": "close"}) as http:
            for _ in range(each):
                response = http.get("/jwks.json")
                assert response.status_code == 200
                ids.append(response.headers["x-request-id"])

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(ids) == clients * each
    return ids


@pytest.mark.parametrize("sink", ["file", "stderr"])
def test_workers_write_whole_lines_to_one_destination(
    seeded: tuple[Path, Seed], tmp_path: Path, sink: str
) -> None:
    data_dir, _ = seeded
    access = tmp_path / "access.log"
    env = {"TOLLHOUSE_ACCESS_LOG": str(access)} if sink == "file" else {}
    started = serve(data_dir, "--workers", "2", env=env, stderr=subprocess.PIPE)
    assert started.process.stderr is not None
    collected = Collected(started.process.stderr)
    read = (lambda: access.read_text()) if sink == "file" else collected.text
    try:
        ids = fan_out(started.base_url, clients=4, each=50)
        lines = wait_for(read, ids)
    finally:
        stop(started.process)
        collected.close(started.process.stderr)
    for line in access_lines(read()):
        json.loads(line)
    assert len(set(lines)) == len(ids)
    assert len({request_id.split(".")[0] for request_id in ids}) == 2  # both workers wrote
