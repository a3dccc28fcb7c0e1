"""Several ``tollhouse serve`` processes that behave as one IdP: one database, one Redis,
one master key (``TOLLHOUSE_MASTER_KEY``), one issuer, and nothing else in common (each
has its own data directory). The multi-instance and fault tests start them."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.e2e.conftest import TOLLHOUSE, Seed, free_port, seed_database, start_server


@dataclass
class Instance:
    name: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, cookies: httpx.Cookies | None = None, timeout: float = 10) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, follow_redirects=False, timeout=timeout, cookies=cookies
        )

    def logs(self) -> str:
        return "" if self.log_path is None else self.log_path.read_text(errors="replace")


@dataclass
class Cluster:
    database_url: str
    redis_url: str
    seed: Seed
    env: dict[str, str]
    """What every instance (and the CLI) gets: master key, issuer, intervals."""
    instances: list[Instance] = field(default_factory=list)

    @property
    def a(self) -> Instance:
        return self.instances[0]

    @property
    def b(self) -> Instance:
        return self.instances[1]

    @property
    def issuer(self) -> str:
        return self.env["TOLLHOUSE_ISSUER"]

    def auth(self, client_id: str | None = None) -> tuple[str, str]:
        return (client_id or self.seed.confidential_id, self.seed.confidential_secret)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``tollhouse ARGS --database URL`` with the instances' master key."""
        return subprocess.run(
            [str(TOLLHOUSE), *args, "--database", self.database_url],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **self.env, "TOLLHOUSE_DATA_DIR": str(self.a.data_dir)},
            check=False,
        )

    def start(self, instance: Instance) -> None:
        instance.process, instance.log_path = start_server(
            instance.data_dir,
            instance.port,
            "--database",
            self.database_url,
            "--redis",
            self.redis_url,
            env=self.env,
        )

    def stop(self) -> None:
        """All at once: each may take seconds to shut down gracefully."""
        running = [i.process for i in self.instances if i.process and i.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def start_cluster(
    data_root: Path,
    database_url: str,
    redis_url: str,
    *,
    size: int = 2,
    env: dict[str, str] | None = None,
) -> Cluster:
    """Seed ``database_url``, then start ``size`` instances at the same moment (they race
    to migrate and to create the first keys, as a fresh deployment does)."""
    seed = Seed()
    asyncio.run(seed_database(database_url, seed))
    ports = [free_port() for _ in range(size)]
    cluster = Cluster(
        database_url,
        redis_url,
        seed,
        {
            "TOLLHOUSE_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            # One public name for all, as behind a load balancer.
            "TOLLHOUSE_ISSUER": f"http://127.0.0.1:{ports[0]}",
            "TOLLHOUSE_INSECURE_HTTP": "true",  # the CLI validates the issuer as serve does
            "TOLLHOUSE_KEY_RELOAD_INTERVAL": "1",
            "TOLLHOUSE_RATE_LIMIT_TOKEN": "off",
            "TOLLHOUSE_RATE_LIMIT_REVOKE": "off",
            **(env or {}),
        },
    )
    names = "abcdefgh"
    for index, port in enumerate(ports):
        data_dir = data_root / f"instance-{names[index]}"
        data_dir.mkdir(parents=True, exist_ok=True)
        cluster.instances.append(Instance(names[index], port, data_dir))
    try:
        with ThreadPoolExecutor(max_workers=size) as pool:
            for future in [pool.submit(cluster.start, i) for i in cluster.instances]:
                future.result()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def client_credentials(
    http: httpx.Client, cluster: Cluster, scope: str = "read_sensors"
) -> httpx.Response:
    return http.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=cluster.auth(cluster.seed.machine_id),
    )


def introspect(http: httpx.Client, cluster: Cluster, token: str) -> dict[str, object]:
    """As the resource server of the sensors API (it may see tokens for its API)."""
    response = http.post(
        "/introspect", data={"token": token}, auth=cluster.auth(cluster.seed.resource_server_id)
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def kids(http: httpx.Client) -> Sequence[str]:
    response = http.get("/jwks.json")
    assert response.status_code == 200, response.text
    return [key["kid"] for key in response.json()["keys"]]
