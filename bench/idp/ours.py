"""Tollhouse under test: a fresh state, a seeded API/clients/user, a pinned server, and
single-use credentials minted through the real browser path before a run.

Everything listens on 127.0.0.1. The state is made by the real CLI (``tollhouse apis
create``, ``clients create``, ``users create``) so secrets are hashed exactly as in a
deployment; codes come from ``/authorize`` → login → consent (then, consent
remembered, straight from ``/authorize``) and refresh tokens from exchanging such codes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

API = "https://api.bench.test"
SCOPE = "bench.read"
CALLBACK = "http://127.0.0.1:9/callback"
USERNAME = "bench-user"
PASSWORD = "a bench password that is long enough"
POSTGRES_ADMIN = os.environ.get(
    "TOLLHOUSE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS = os.environ.get("TOLLHOUSE_BENCH_REDIS", "redis://127.0.0.1:6379/15")
"""Redis database 15, flushed before and after each PostgreSQL run."""
VENV_BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"


def tollhouse_bin() -> str:
    local = VENV_BIN / "tollhouse"
    return str(local) if local.exists() else (shutil.which("tollhouse") or "tollhouse")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@dataclass
class Backend:
    name: str
    database: str | None
    redis: str | None


@contextlib.contextmanager
def backend(kind: str, workdir: Path) -> Iterator[Backend]:
    """A fresh database per run: a new SQLite file, or a new PostgreSQL database + Redis."""
    if kind == "sqlite":
        yield Backend("SQLite", f"sqlite:///{workdir / 'tollhouse.db'}", None)
        return
    name = f"tollhouse_bench_{secrets.token_hex(4)}"
    admin = POSTGRES_ADMIN.rsplit("/", 1)[0]
    asyncio.run(_postgres(POSTGRES_ADMIN, f'CREATE DATABASE "{name}"'))
    _flush_redis()
    try:
        yield Backend("PostgreSQL + Redis", f"{admin}/{name}", REDIS)
    finally:
        asyncio.run(_postgres(POSTGRES_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        _flush_redis()


async def _postgres(url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS)
    try:
        client.flushdb()
    finally:
        client.close()


def postgres_available() -> bool:
    try:
        asyncio.run(_postgres(POSTGRES_ADMIN, "SELECT 1"))
        import redis

        redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping()
    except Exception:
        return False
    return True


@dataclass
class Seeded:
    cc_id: str
    cc_secret: str
    web_id: str
    web_secret: str
    web_es_id: str
    """A web client registered with ``--id-token-alg ES256`` (its ID Tokens are ES256)."""
    web_es_secret: str

    @property
    def cc_auth(self) -> str:
        return basic(self.cc_id, self.cc_secret)

    @property
    def web_auth(self) -> str:
        return basic(self.web_id, self.web_secret)

    @property
    def web_es_auth(self) -> str:
        return basic(self.web_es_id, self.web_es_secret)

    def web_client(self, id_token_alg: str) -> tuple[str, str]:
        """(client_id, Basic authorization) of the web client with that ID Token alg."""
        if id_token_alg == "ES256":
            return self.web_es_id, self.web_es_auth
        return self.web_id, self.web_auth


@dataclass
class Server:
    """One ``tollhouse serve --insecure-http`` (maybe with workers), pinned with taskset.

    The default configuration, as a user runs it: log level ``info`` (one access log line
    per request) to stderr, which goes to ``server.log`` in ``workdir``; only the rate
    limits and the sign-in lockout are off, since the load comes from one address.
    ``log_level`` and ``access_log`` (``TOLLHOUSE_ACCESS_LOG``) change that for the runs
    that compare the access log on and off, or to a file. Servers that share a state
    share its ``master_key``."""

    workdir: Path
    backend: Backend
    workers: int
    cpus: str | None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    master_key: str = field(default_factory=lambda: base64.b64encode(os.urandom(32)).decode())
    log_level: str | None = None
    access_log: Path | str | None = None
    """A file, or ``off``; unset: the default, stderr."""
    log_name: str = "server.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLHOUSE_")}
        env.update(
            TOLLHOUSE_DATA_DIR=str(self.workdir),
            TOLLHOUSE_MASTER_KEY=self.master_key,
            # Benchmarks measure the endpoints, not the limiter that would refuse them.
            TOLLHOUSE_RATE_LIMIT_TOKEN="off",
            TOLLHOUSE_RATE_LIMIT_TOKEN_CLIENT="off",
            TOLLHOUSE_RATE_LIMIT_INTROSPECT="off",
            TOLLHOUSE_RATE_LIMIT_REVOKE="off",
            TOLLHOUSE_RATE_LIMIT_REGISTER="off",
            TOLLHOUSE_LOGIN_LOCKOUT_PER_ADDRESS="0",
            TOLLHOUSE_LOGIN_LOCKOUT_PER_ACCOUNT="0",
            TOLLHOUSE_RATE_LIMIT_AUTHORIZE="off",
            TOLLHOUSE_RATE_LIMIT_USERINFO="off",
            TOLLHOUSE_RATE_LIMIT_REVOCATIONS="off",
            TOLLHOUSE_RATE_LIMIT_PAGES="off",
            TOLLHOUSE_MAX_PENDING_INTERACTIONS="off",
            TOLLHOUSE_RATE_LIMIT_LOGIN_IP="off",
        )
        if self.log_level is not None:
            env["TOLLHOUSE_LOG_LEVEL"] = self.log_level
        if self.access_log is not None:
            env["TOLLHOUSE_ACCESS_LOG"] = str(self.access_log)
        if self.backend.database:
            env["TOLLHOUSE_DATABASE"] = self.backend.database
        if self.backend.redis:
            env["TOLLHOUSE_REDIS"] = self.backend.redis
        return env

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [tollhouse_bin(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"tollhouse {args[0]} {args[1:2]} failed: {done.stderr.strip()}")
        return done.stdout

    def seed(self) -> Seeded:
        self.cli("migrate")
        self.cli("apis", "create", "--identifier", API, "--scope", SCOPE)
        cc = json.loads(
            self.cli(
                "clients",
                "create",
                "--name",
                "bench-cc",
                "--grant-type",
                "client_credentials",
                "--scope",
                SCOPE,
                "--json",
            )
        )
        web, web_es = (
            json.loads(
                self.cli(
                    "clients",
                    "create",
                    "--name",
                    name,
                    "--redirect-uri",
                    CALLBACK,
                    "--grant-type",
                    "authorization_code",
                    "--grant-type",
                    "refresh_token",
                    "--scope",
                    f"openid {SCOPE} offline_access",
                    "--id-token-alg",
                    alg,
                    "--json",
                )
            )
            for name, alg in (("bench-web", "RS256"), ("bench-web-es256", "ES256"))
        )
        self.cli("users", "create", "--username", USERNAME, "--password-stdin", stdin=PASSWORD)
        return Seeded(
            cc["client_id"],
            cc["client_secret"],
            web["client_id"],
            web["client_secret"],
            web_es["client_id"],
            web_es["client_secret"],
        )

    def start(self) -> None:
        command = [
            tollhouse_bin(),
            "serve",
            "--insecure-http",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        if self.cpus is not None and shutil.which("taskset"):
            command = ["taskset", "-c", self.cpus, *command]
        self.log = (self.workdir / self.log_name).open("wb")
        self.process = subprocess.Popen(
            command,
            env=self.env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_ready(f"{self.base}/healthz", self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)
            self.process = None

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server's processes have used so far."""
        return tree_cpu_seconds(self.process.pid) if self.process else 0.0

    def rss_mib(self) -> list[float]:
        """Resident memory of each serving process (the workers, or the one process)."""
        return process_tree_rss(self.process.pid) if self.process else []


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before it was ready")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} was not ready within {timeout:.0f} s")


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's own process group (it was started in a new session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its descendants, every thread included: what a
    request costs the server stays comparable when other processes share the cores."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    tree, frontier = {pid}, [pid]
    while frontier:
        node = frontier.pop()
        for child, parent in parents.items():
            if parent == node and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(ticks.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


def process_tree_rss(pid: int) -> list[float]:
    """RSS (MiB) of ``pid``'s descendants that serve (leaves), else of ``pid`` itself."""
    children: dict[int, list[int]] = {}
    rss: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        parent = int(fields.get("PPid", "0").strip() or 0)
        children.setdefault(parent, []).append(int(entry.name))
        rss[int(entry.name)] = int(fields.get("VmRSS", "0 kB").split()[0]) / 1024

    leaves: list[int] = []

    def walk(node: int) -> None:
        kids = [k for k in children.get(node, []) if rss.get(k, 0) > 20]
        if not kids:
            leaves.append(node)
        for kid in kids:
            walk(kid)

    walk(pid)
    return [round(rss.get(p, 0.0), 1) for p in leaves]


# Minting single-use credentials through the real browser path ---------------------------


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.inputs: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = values.get("action", "")
        elif tag == "input" and values.get("name") and values.get("type") == "hidden":
            self.inputs[values["name"]] = values.get("value", "")


VERIFIER = secrets.token_urlsafe(48)
CHALLENGE = (
    base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
)


def _authorize_params(client_id: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "scope": f"openid {SCOPE} offline_access",
        "state": secrets.token_urlsafe(8),
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }


async def _code(http: httpx.AsyncClient, client_id: str) -> str:
    """Follow /authorize (→ login → consent the first time) to the callback's code."""
    response = await http.get("/authorize", params=_authorize_params(client_id))
    for _ in range(8):
        if response.is_redirect:
            location = urljoin(str(response.url), response.headers["location"])
            if location.startswith(CALLBACK):
                return parse_qs(urlsplit(location).query)["code"][0]
            response = await http.get(location)
            continue
        if response.status_code != 200:
            raise RuntimeError(f"/authorize walk stopped at HTTP {response.status_code}")
        form = _Forms()
        form.feed(response.text)
        data = dict(form.inputs)
        if "password" in response.text and 'name="password"' in response.text:
            data.update(username=USERNAME, password=PASSWORD)
        else:
            data["decision"] = "allow"
        response = await http.post(urljoin(str(response.url), form.action or ""), data=data)
    raise RuntimeError("the /authorize walk did not reach the callback")


async def _mint(
    base: str, client: tuple[str, str], count: int, refresh: bool, within: float | None = None
) -> list[str]:
    """Up to ``count`` values; minting stops after ``within`` seconds (codes expire)."""
    client_id, auth = client
    limits = httpx.Limits(max_connections=8)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        await _code(http, client_id)  # sign in and consent once; the session remembers
        results: list[str] = []
        remaining = count
        deadline = None if within is None else time.monotonic() + within

        async def one() -> None:
            nonlocal remaining
            while remaining > 0 and (deadline is None or time.monotonic() < deadline):
                remaining -= 1
                code = await _code(http, client_id)
                if not refresh:
                    results.append(code)
                    continue
                answer = await http.post(
                    "/token",
                    data={
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": CALLBACK,
                        "code_verifier": VERIFIER,
                    },
                    headers={"Authorization": auth},
                )
                answer.raise_for_status()
                results.append(answer.json()["refresh_token"])

        await asyncio.gather(*(one() for _ in range(8)))
        return results


CODE_LIFETIME = 60
"""Seconds a code lives (``code_ttl``): a code minted earlier than that before it is
exchanged is refused, so :func:`mint_codes` stops minting in time."""


def mint_codes(
    base: str, seeded: Seeded, count: int, id_token_alg: str = "RS256", *, within: float
) -> list[str]:
    """Codes for the web client whose ID Tokens are signed with ``id_token_alg``: up to
    ``count``, as many as can be minted in ``within`` seconds."""
    return asyncio.run(
        _mint(base, seeded.web_client(id_token_alg), count, refresh=False, within=within)
    )


def mint_refresh_tokens(base: str, seeded: Seeded, count: int) -> list[str]:
    return asyncio.run(_mint(base, seeded.web_client("RS256"), count, refresh=True))


def access_token(base: str, auth: str, resource: str | None = None) -> str:
    data = {"grant_type": "client_credentials", "scope": SCOPE}
    if resource:
        data["resource"] = resource
    answer = httpx.post(f"{base}/token", data=data, headers={"Authorization": auth}, timeout=10)
    answer.raise_for_status()
    token: str = answer.json()["access_token"]
    return token


def code_exchange_prefix() -> str:
    return f"grant_type=authorization_code&redirect_uri={CALLBACK}&code_verifier={VERIFIER}&code="


REFRESH_PREFIX = "grant_type=refresh_token&refresh_token="
