"""A real ``tollhouse serve`` process on 127.0.0.1, seeded through the real storage."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.e2e.backends import BACKEND, backend
from tollhouse.models import Api, AuthMethod, Client, GrantType, User
from tollhouse.randomness import identifier
from tollhouse.security.passwords import PasswordHasher
from tollhouse.storage.sql.storage import open_storage

TOLLHOUSE = Path(sys.executable).parent / "tollhouse"
HASHER = PasswordHasher.for_tests()
CALLBACK = "http://127.0.0.1:9000/callback"
SENSORS = "https://sensors.example.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Seed:
    confidential_id: str = "grid-monitor"
    confidential_secret: str = "s3cret-" + "x" * 40
    public_id: str = "native-app"
    other_id: str = "other-app"
    machine_id: str = "meter-reader"
    resource_server_id: str = "sensors-api"
    username: str = "alice"
    password: str = "correct horse battery staple"
    user_id: str = field(default_factory=lambda: identifier(16))


async def seed_database(url: str, seed: Seed) -> None:
    storage = await open_storage(url)
    try:
        now = int(time.time())
        await storage.add_api(Api(SENSORS, ("read_sensors", "write_sensors"), now, "Sensors"))
        await storage.add_api(Api("https://billing.example.test", ("read_billing",), now))
        await storage.add_client(
            Client(
                client_id=seed.confidential_id,
                name="Grid-Monitor",
                redirect_uris=(CALLBACK, "http://127.0.0.1:9000/other"),
                grant_types=(GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN),
                token_endpoint_auth_method=AuthMethod.CLIENT_SECRET_BASIC,
                created_at=now,
                secret_hash=HASHER.hash(seed.confidential_secret),
                scopes=("read_sensors", "write_sensors", "read_billing"),
            )
        )
        await storage.add_client(
            Client(
                client_id=seed.other_id,
                name="Other App",
                redirect_uris=(CALLBACK,),
                grant_types=(GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN),
                token_endpoint_auth_method=AuthMethod.CLIENT_SECRET_BASIC,
                created_at=now,
                secret_hash=HASHER.hash(seed.confidential_secret),
            )
        )
        await storage.add_client(
            Client(
                client_id=seed.machine_id,
                name="Meter Reader",
                redirect_uris=(),
                grant_types=(GrantType.CLIENT_CREDENTIALS,),
                token_endpoint_auth_method=AuthMethod.CLIENT_SECRET_BASIC,
                created_at=now,
                secret_hash=HASHER.hash(seed.confidential_secret),
            )
        )
        await storage.add_client(
            Client(
                client_id=seed.resource_server_id,
                name="Sensors API",
                redirect_uris=(),
                grant_types=(GrantType.CLIENT_CREDENTIALS,),
                token_endpoint_auth_method=AuthMethod.CLIENT_SECRET_BASIC,
                created_at=now,
                secret_hash=HASHER.hash(seed.confidential_secret),
                introspect_audiences=(SENSORS,),
            )
        )
        await storage.add_client(
            Client(
                client_id=seed.public_id,
                name="Native App",
                redirect_uris=("http://127.0.0.1:7000/cb",),
                grant_types=(GrantType.AUTHORIZATION_CODE,),
                token_endpoint_auth_method=AuthMethod.NONE,
                created_at=now,
            )
        )
        await storage.add_user(User(seed.user_id, seed.username, HASHER.hash(seed.password), now))
    finally:
        await storage.close()


@dataclass
class Server:
    base_url: str
    data_dir: Path
    database_url: str
    seed: Seed
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, follow_redirects=False, timeout=10)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


NO_REQUEST_LIMITS = {
    f"TOLLHOUSE_RATE_LIMIT_{name}": "off"
    for name in (
        "TOKEN",
        "TOKEN_CLIENT",
        "TOKEN_CLIENT_FAILURES",
        "INTROSPECT",
        "REVOKE",
        "REGISTER",
        "AUTHORIZE",
        "USERINFO",
        "REVOCATIONS",
        "PAGES",
        "DEVICE",
        "DEVICE_CLIENT",
    )
} | {"TOLLHOUSE_MAX_PENDING_INTERACTIONS": "off"}
"""Test servers see bursts of requests from 127.0.0.1 across a module, so the per-IP
request limits are off unless a test passes them in ``env`` (tests/e2e/test_rate_limits.py);
the login guard keeps its defaults."""


def start_server(
    data_dir: Path,
    port: int,
    *extra: str,
    env: dict[str, str] | None = None,
    healthy_within: float = 30,
) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = data_dir / f"server-{port}.log"
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
            stderr=subprocess.STDOUT,
            env={**os.environ, **NO_REQUEST_LIMITS, **(env or {})},
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, log_path, healthy_within)
    except BaseException:
        stop(process)  # not left serving after the test session
        raise
    return process, log_path


def wait_healthy(
    base_url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not become healthy:\n{log_path.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


BACKEND_FIXTURES = {
    "server",
    "proxied",
    "two_workers",
    "slots_server",
    "dpop_server",
    "mfa_server",
}
"""Fixtures whose servers take their database from ``backends.backend()``. With
TOLLHOUSE_TEST_BACKEND=postgresql only the e2e tests using one of them run: the others
would only repeat their SQLite run. Add a fixture here when it uses ``backend()``."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BACKEND == "sqlite":
        return
    here = Path(__file__).parent
    keep, drop = [], []
    for item in items:
        repeats = item.path.is_relative_to(here) and not BACKEND_FIXTURES & set(
            getattr(item, "fixturenames", ())
        )
        (drop if repeats else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """On SQLite, or on PostgreSQL + Redis with TOLLHOUSE_TEST_BACKEND=postgresql."""
    data_dir = tmp_path_factory.mktemp("idp")
    with backend(data_dir) as (database_url, backend_args):
        seed = Seed()
        asyncio.run(seed_database(database_url, seed))
        port = free_port()
        process, log_path = start_server(data_dir, port, *backend_args)
        try:
            yield Server(
                f"http://127.0.0.1:{port}", data_dir, database_url, seed, process, log_path
            )
        finally:
            stop(process)
