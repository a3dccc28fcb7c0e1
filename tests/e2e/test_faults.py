"""Faults under load: a dead instance, a PostgreSQL restart, Redis down.

Two instances run on a PostgreSQL cluster and a Redis server of this module's own
(started here on free ports, so restarting them never disturbs anything else) and are
loaded with bounded loops of ``client_credentials`` requests.

* An instance killed mid-load: the client retries at the other, which keeps serving
  with no 5xx.
* PostgreSQL restarting: while it is down every answer is 503 with ``Retry-After``
  (RFC 6749 §5.2 ``temporarily_unavailable``), never a 500; afterwards full service,
  every token handed out is known, and a code whose redemption failed can still be
  redeemed, once.
* Redis down: revocation fails closed. ``/revoke`` answers 503 + ``Retry-After`` (the
  database has the revocation, Redis does not yet), a resource server reading Redis
  refuses the token, introspection (the database) already says inactive.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import jwt
import pytest
from redis import Redis

from tests.e2e.backends import unavailable
from tests.e2e.cluster import Cluster, Instance, client_credentials, introspect, start_cluster
from tests.e2e.conftest import CALLBACK, SENSORS, free_port
from tests.e2e.flows import Callback, browse, code_params, exchange, pkce_pair
from tollhouse.resource import TokenError, TokenValidator
from tollhouse.resource.revocation import RedisRevocationList

OUTAGE = 1.5
"""Seconds PostgreSQL stays down under load."""
RECOVERY_DEADLINE = 15.0


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on a free port (``initdb`` + ``pg_ctl``)."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        initdb = Path(found[-1]) if found else shutil.which("initdb")
        if initdb is None:
            unavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.bin = Path(initdb).parent
        self.root = Path(tempfile.mkdtemp(prefix="tollhouse-pg-"))
        self.port = free_port()
        self.owner: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.root, "postgres")
            self.owner = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.owner, str(self.bin / tool), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def init(self) -> None:
        self._pg(
            "initdb", "-D", str(self.root / "data"), "-A", "trust", "-U", "postgres",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        self._pg(
            "pg_ctl", "-D", str(self.root / "data"), "-l", str(self.root / "log"),
            "-o", options, "-w", "-t", "30", "start",
        )  # fmt: skip

    def stop(self) -> None:
        """A fast shutdown, as ``pg_ctlcluster … restart`` does: sessions are cut."""
        self._pg("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        status = subprocess.run(
            [*self.owner, str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "status"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        return status.returncode == 0

    def destroy(self) -> None:
        if (self.root / "data").exists() and self.running():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            unavailable("redis-server is not installed")
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


@dataclass
class Faulty:
    cluster: Cluster
    postgres: PrivatePostgres
    redis: PrivateRedis


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faulty]:
    postgres, redis = PrivatePostgres(), PrivateRedis()
    cluster: Cluster | None = None
    try:
        postgres.init()
        postgres.start()
        redis.start()
        cluster = start_cluster(tmp_path_factory.mktemp("faults"), postgres.url, redis.url)
        yield Faulty(cluster, postgres, redis)
    finally:
        if cluster is not None:
            cluster.stop()
        redis.stop()
        postgres.destroy()


@dataclass
class Answer:
    instance: str
    status: int
    started: float
    retry_after: str | None = None
    error: str | None = None
    jti: str | None = None
    retried: bool = False


@dataclass
class Load:
    """A bounded loop of client_credentials requests alternating over the instances;
    an instance that cannot be reached is retried at the next one."""

    cluster: Cluster
    instances: list[Instance]
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    max_requests: int = 2000

    def run(self) -> None:
        clients = {i.name: i.client(timeout=10) for i in self.instances}
        try:
            for n in range(self.max_requests):
                if self.stop.is_set():
                    return
                self.answers.append(self._one(clients, n))
                time.sleep(0.01)
        finally:
            for client in clients.values():
                client.close()

    def _one(self, clients: dict[str, httpx.Client], n: int) -> Answer:
        started = time.monotonic()
        order = self.instances[n % 2 :] + self.instances[: n % 2]
        for attempt, instance in enumerate(order):
            try:
                response = client_credentials(clients[instance.name], self.cluster)
            except httpx.TransportError:
                continue  # dead or unreachable: the next instance
            body = response.json()
            jti = None
            if response.status_code == 200:
                jti = jwt.decode(body["access_token"], options={"verify_signature": False})["jti"]
            return Answer(
                instance.name,
                response.status_code,
                started,
                response.headers.get("retry-after"),
                body.get("error"),
                jti,
                retried=attempt > 0,
            )
        return Answer("none", 0, started)

    def __enter__(self) -> Load:
        self._thread = threading.Thread(target=self.run, name="load", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(30)


def wait_until_served(instance: Instance, cluster: Cluster, deadline: float) -> None:
    with instance.client(timeout=5) as http:
        while True:
            try:
                if client_credentials(http, cluster).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{instance.name} did not recover"
            time.sleep(0.1)


def code_from(instance: Instance, cluster: Cluster) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    with instance.client() as http:
        result = browse(
            http,
            code_params(cluster.seed, challenge),
            username=cluster.seed.username,
            password=cluster.seed.password,
        )
    assert isinstance(result, Callback), result
    return result.code, verifier


def test_postgresql_restart_under_load_is_503_with_retry_after_then_full_service(
    faulty: Faulty,
) -> None:
    cluster, postgres = faulty.cluster, faulty.postgres
    code, verifier = code_from(cluster.a, cluster)
    try:
        with Load(cluster, cluster.instances) as load:
            time.sleep(0.5)
            postgres.stop()
            down = time.monotonic()
            with cluster.b.client() as b:
                during = exchange(
                    b, code, verifier=verifier, redirect_uri=CALLBACK, auth=cluster.auth()
                )
                # The keys are in memory: resource servers can still fetch the JWKS.
                assert b.get("/jwks.json").status_code == 200
            time.sleep(OUTAGE)
            up = time.monotonic()
            postgres.start()
            deadline = time.monotonic() + RECOVERY_DEADLINE
            for instance in cluster.instances:
                wait_until_served(instance, cluster, deadline)
            recovered = time.monotonic()
            time.sleep(1.0)
    finally:
        if not postgres.running():  # never leave the database down for later tests
            postgres.start()

    answers = load.answers
    assert {a.status for a in answers} <= {200, 503}, sorted({a.status for a in answers})
    unavailable_answers = [a for a in answers if a.status == 503]
    assert any(down <= a.started <= up for a in unavailable_answers), "no request while down"
    for answer in unavailable_answers:
        assert answer.error == "temporarily_unavailable"
        assert answer.retry_after is not None and answer.retry_after.isdigit()
    after = [a for a in answers if a.started >= recovered]
    assert after and all(a.status == 200 for a in after), [a.status for a in after]

    assert during.status_code == 503, during.text
    assert during.json()["error"] == "temporarily_unavailable"
    assert during.headers["retry-after"].isdigit()

    with cluster.a.client() as a, cluster.b.client() as b:
        # Not lost: the failed redemption consumed nothing; not duplicated: once only.
        redeemed = exchange(b, code, verifier=verifier, redirect_uri=CALLBACK, auth=cluster.auth())
        assert redeemed.status_code == 200, redeemed.text
        again = exchange(a, code, verifier=verifier, redirect_uri=CALLBACK, auth=cluster.auth())
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        issued = [a.jti for a in answers if a.jti is not None]
        assert len(issued) == len(set(issued))
        # Every token handed out before, during and after the outage is known.
        tokens = {answer.jti for answer in answers if answer.status == 200}
        assert tokens == set(issued) and len(tokens) > 10
    records = _recorded_jtis(cluster)
    assert tokens <= records, tokens - records


def _recorded_jtis(cluster: Cluster) -> set[str]:
    import asyncio

    from tollhouse.storage.sql.storage import open_storage

    async def read() -> set[str]:
        storage = await open_storage(cluster.database_url, migrate=False)
        try:
            found = await storage.access_tokens_of(
                int(time.time()), client_id=cluster.seed.machine_id
            )
        finally:
            await storage.close()
        return {record.jti for record in found}

    return asyncio.run(read())


def test_redis_down_fails_revocation_closed(faulty: Faulty) -> None:
    cluster, redis = faulty.cluster, faulty.redis
    revocations = RedisRevocationList(redis.url, cache_ttl=0, timeout=0.5)
    validator = TokenValidator(cluster.issuer, SENSORS, revocation=revocations)
    try:
        with cluster.a.client() as a, cluster.b.client() as b:
            token = client_credentials(a, cluster).json()["access_token"]
            validator.validate(token)
            redis.stop()
            try:
                revoked = a.post(
                    "/revoke", data={"token": token}, auth=cluster.auth(cluster.seed.machine_id)
                )
                assert revoked.status_code == 503, revoked.text
                assert revoked.json()["error"] == "temporarily_unavailable"
                assert revoked.headers["retry-after"].isdigit()
                with pytest.raises(TokenError) as refused:  # fail closed
                    validator.validate(token)
                assert refused.value.status_code == 401
                # The database has the revocation: introspection already refuses it.
                assert introspect(b, cluster, token) == {"active": False}
            finally:
                redis.start()
            # The client retries, as Retry-After says: now Redis has it too.
            retried = a.post(
                "/revoke", data={"token": token}, auth=cluster.auth(cluster.seed.machine_id)
            )
            assert retried.status_code == 200, retried.text
            with pytest.raises(TokenError):
                validator.validate(token)
    finally:
        validator.close()
        revocations.close()


def test_killed_instance_mid_load_the_other_keeps_serving(faulty: Faulty) -> None:
    """Last in this module: instance A stays dead."""
    cluster = faulty.cluster
    a = cluster.a.process
    assert a is not None
    with Load(cluster, cluster.instances) as load:
        time.sleep(0.7)
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        killed = time.monotonic()
        time.sleep(1.5)

    answers = load.answers
    assert answers and all(answer.status == 200 for answer in answers), [
        (answer.instance, answer.status) for answer in answers if answer.status != 200
    ]
    after = [answer for answer in answers if answer.started > killed]
    assert after and all(answer.instance == "b" for answer in after)
    assert any(answer.retried for answer in after), "no request failed over from A to B"
    assert len(after) >= 5
