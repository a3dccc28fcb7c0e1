"""A flood of wrong passwords against a real server: memory stays bounded, the surplus
is refused with 503 + ``Retry-After`` on the sign-in page, and the other endpoints keep
answering (issue 21.1).

Each password check is argon2id at RFC 9106's second recommended option (64 MiB); the
flood uses names no account has, so every attempt pays the same dummy check at that
cost and the test needs no production-hashed user (and no lockout interferes: each
name and address is used once).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import (
    Seed,
    Server,
    free_port,
    seed_database,
    start_server,
    stop,
)
from tests.e2e.flows import code_params, pkce_pair
from tests.e2e.forms import parse
from tollhouse.models import AuthMethod, Client, GrantType
from tollhouse.security.passwords import PasswordHasher
from tollhouse.storage.sql.storage import open_storage

pytestmark = pytest.mark.slow

FLOOD = 30
CONCURRENCY = 2
HASH_MIB = 64
MIB = 1024 * 1024
FLOOD_ENV = {
    "TOLLHOUSE_PASSWORD_HASH_CONCURRENCY": str(CONCURRENCY),
    "TOLLHOUSE_PASSWORD_HASH_QUEUE": "4",
    "TOLLHOUSE_PASSWORD_HASH_QUEUE_TIME": "2",
}


@pytest.fixture(scope="module")
def flooded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("flood-idp")
    database_url = f"sqlite:///{data_dir / 'tollhouse.db'}"
    seed = Seed()
    asyncio.run(seed_database(database_url, seed))
    asyncio.run(add_legacy_client(database_url, seed.confidential_secret))
    port = free_port()
    process, log_path = start_server(data_dir, port, env=FLOOD_ENV)
    try:
        yield Server(f"http://127.0.0.1:{port}", data_dir, database_url, seed, process, log_path)
    finally:
        stop(process)


LEGACY_ID = "legacy-meter"


async def add_legacy_client(database_url: str, secret: str) -> None:
    """A client whose secret is an argon2id row of the user profile (an old row: new
    secrets are SHA-256 digests), so checking it costs what a password costs."""
    storage = await open_storage(database_url)
    try:
        await storage.add_client(
            Client(
                client_id=LEGACY_ID,
                name="Legacy Meter",
                redirect_uris=(),
                grant_types=(GrantType.CLIENT_CREDENTIALS,),
                token_endpoint_auth_method=AuthMethod.CLIENT_SECRET_BASIC,
                created_at=int(time.time()),
                secret_hash=PasswordHasher.for_users().hash(secret),
            )
        )
    finally:
        await storage.close()


def memory_kib(pid: int, field_name: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (its peak) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field_name} missing from /proc/{pid}/status")


@dataclass
class RssSampler:
    """Reads the server's resident memory every 10 ms until stopped."""

    pid: int
    peak_kib: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, memory_kib(self.pid, "VmRSS"))
            self._stop.wait(0.01)

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


def from_address(server: Server, address: str) -> httpx.AsyncClient:
    """A client whose connections leave from ``address`` (any 127.x is loopback)."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=server.base_url, transport=transport, timeout=60)


async def open_login_form(http: httpx.AsyncClient, server: Server) -> tuple[str, dict[str, str]]:
    _, challenge = pkce_pair()
    page = await http.get(
        "/authorize",
        params=code_params(server.seed, challenge),
        follow_redirects=True,
    )
    assert page.status_code == 200, page.text
    form = parse(page.text).forms[0]
    return form.action or "/login", dict(form.inputs)


async def wrong_password(
    http: httpx.AsyncClient, form: tuple[str, dict[str, str]], username: str
) -> httpx.Response:
    action, inputs = form
    data = {**inputs, "username": username, "password": "not the password"}
    return await http.post(action, data=data)


@dataclass
class Probe:
    """The other endpoints, asked in turn while the flood lasts."""

    server: Server
    latencies: list[tuple[str, int, float]] = field(default_factory=list)

    async def run(self, done: asyncio.Event) -> None:
        seed = self.server.seed
        auth = (seed.machine_id, seed.confidential_secret)
        async with httpx.AsyncClient(base_url=self.server.base_url, timeout=30) as http:
            for _ in range(1000):  # bounded; the flood ends long before
                if done.is_set():
                    return
                started = time.monotonic()
                token = await http.post(
                    "/token", data={"grant_type": "client_credentials"}, auth=auth
                )
                self.latencies.append(("/token", token.status_code, time.monotonic() - started))
                started = time.monotonic()
                discovery = await http.get("/.well-known/openid-configuration")
                elapsed = time.monotonic() - started
                self.latencies.append(("discovery", discovery.status_code, elapsed))
                await asyncio.sleep(0.05)


async def flood(server: Server) -> tuple[list[httpx.Response], Probe]:
    clients = [from_address(server, f"127.0.0.{n}") for n in range(2, 2 + FLOOD)]
    try:
        forms = await asyncio.gather(*(open_login_form(c, server) for c in clients))
        probe = Probe(server)
        done = asyncio.Event()
        probing = asyncio.create_task(probe.run(done))
        await asyncio.sleep(0.2)  # the probe's first answers come from a quiet server
        answers = await asyncio.gather(
            *(
                wrong_password(c, f, f"flood-{i}")
                for i, (c, f) in enumerate(zip(clients, forms, strict=True))
            )
        )
        done.set()
        await probing
        return list(answers), probe
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


async def warm_up(server: Server) -> None:
    """One wrong password first: the server makes its dummy hash on the first check."""
    async with from_address(server, "127.0.1.1") as http:
        answer = await wrong_password(http, await open_login_form(http, server), "warm-up")
    assert answer.status_code == 400


def test_a_flood_of_wrong_passwords_is_bounded_and_other_endpoints_keep_answering(
    flooded: Server,
) -> None:
    pid = flooded.process.pid
    asyncio.run(warm_up(flooded))
    resting_kib = memory_kib(pid, "VmRSS")
    with RssSampler(pid) as sampler:
        answers, probe = asyncio.run(flood(flooded))

    # (a) Memory: the checks allowed at once, and room for the requests themselves.
    peak_mib = max(sampler.peak_kib, 0) / 1024
    bound_mib = resting_kib / 1024 + CONCURRENCY * HASH_MIB + 96
    assert peak_mib <= bound_mib, (peak_mib, bound_mib)

    # (b) Each attempt was checked (400) or refused on the page with 503 + Retry-After.
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {400, 503}, statuses
    refused = [a for a in answers if a.status_code == 503]
    assert refused, statuses
    for answer in refused:
        assert 1 <= int(answer.headers["retry-after"]) <= 60
        assert answer.headers["content-type"].startswith("text/html")
        assert "password" in parse(answer.text).forms[0].inputs, "the page keeps its form"
        assert 'role="alert"' in answer.text

    # (c) The other endpoints answered throughout, and quickly.
    assert len(probe.latencies) >= 2
    assert {status for _, status, _ in probe.latencies} == {200}, probe.latencies
    slowest = max(elapsed for _, _, elapsed in probe.latencies)
    assert slowest < 2.0, probe.latencies


def test_the_right_password_signs_in_after_the_flood(flooded: Server) -> None:
    """Refused attempts are not held against anyone: the real user signs in at once."""

    async def sign_in() -> httpx.Response:
        async with from_address(flooded, "127.0.2.1") as http:
            action, inputs = await open_login_form(http, flooded)
            seed = flooded.seed
            data = {**inputs, "username": seed.username, "password": seed.password}
            return await http.post(action, data=data)

    answer = asyncio.run(sign_in())
    assert answer.status_code in (302, 303), answer.text


def test_a_flood_on_an_api_path_is_refused_in_its_protocol_format(flooded: Server) -> None:
    """/token checking an argon2id client secret: the surplus gets the RFC 6749 §5.2
    JSON error ``temporarily_unavailable`` with 503 and ``Retry-After``."""
    auth = (LEGACY_ID, flooded.seed.confidential_secret)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=flooded.base_url, timeout=60) as http:
            return list(
                await asyncio.gather(
                    *(
                        http.post("/token", data={"grant_type": "client_credentials"}, auth=auth)
                        for _ in range(FLOOD)
                    )
                )
            )

    answers = asyncio.run(burst())
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) == {200, 503}, statuses
    for answer in (a for a in answers if a.status_code == 503):
        assert answer.json()["error"] == "temporarily_unavailable"
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["retry-after"] == "2"


def thread_niceness(pid: int) -> dict[int, int]:
    """Each thread's nice value (field 19 of ``/proc/PID/task/TID/stat``)."""
    niceness = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        niceness[int(task.name)] = int(fields[16])
    return niceness


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")
def test_password_checks_yield_the_cpu_to_the_requests(flooded: Server) -> None:
    """The threads that check passwords run at the lowest priority, the thread that
    answers requests at the server's own: a flood of checks cannot starve /token."""

    async def one_check() -> None:
        async with from_address(flooded, "127.0.3.1") as http:
            answer = await wrong_password(http, await open_login_form(http, flooded), "nice")
        assert answer.status_code == 400

    asyncio.run(one_check())
    pid = flooded.process.pid
    niceness = thread_niceness(pid)
    assert niceness[pid] == os.getpriority(os.PRIO_PROCESS, os.getpid()) < 19, niceness
    at_lowest = [tid for tid, nice in niceness.items() if nice == 19]
    assert 1 <= len(at_lowest) <= 2 * CONCURRENCY, niceness  # the sign-in and secret gates
