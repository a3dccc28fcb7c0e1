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
from tests.e2e.flows import pkce_pair

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
    """A data directory whose SQLite database holds the e2e seed; servers of this module
    start on copies of it."""
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
        return b"".join(self._chunks).decode()

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
                params={
                    "client_id": seed.confidential_id,
                    "response_type": "code",
                    "redirect_uri": "http://127.0.0.1:9000/callback",
                    "scope": "read_sensors",
                    "state": "s",
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                },
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
