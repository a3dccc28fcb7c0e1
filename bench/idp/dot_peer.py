"""The Python peer IdP: django-oauth-toolkit under gunicorn, installed into a throwaway
virtualenv with pip from the pinned ``dot/requirements.txt``.

``dot/`` beside this file is the Django project (copied into the temporary folder as the
package ``benchdot``); nothing of the install is committed. The set-up is the one the
toolkit's and Django's documentation give for production: ``DEBUG = False``,
``manage.py migrate``, an application registered with ``createapplication`` (its secret
hashed with Django's default password hasher, the toolkit's default), gunicorn serving
``benchdot.wsgi`` with its access log on standard output. One gunicorn worker: the
same one process on one core as Tollhouse's single process.

Two applications: ``bench-cc`` as registered by default (secret hashed), and
``bench-cc-unhashed`` registered with ``--no-hash-client-secret`` (the toolkit's
documented opt-out), which shows the toolkit's cost without the password hash.
Introspection follows the toolkit's resource-server documentation: the caller presents
a Bearer access token carrying the ``introspection`` scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from idp.ours import (
    POSTGRES_ADMIN,
    REDIS,
    SCOPE,
    Backend,
    _flush_redis,
    _postgres,
    basic,
    free_port,
    process_tree_rss,
    stop_group,
    tree_cpu_seconds,
    wait_ready,
)
from idp.peer import PeerUnavailable

PROJECT = Path(__file__).resolve().parent / "dot"
REQUIREMENTS = PROJECT / "requirements.txt"
WORKER_CLASS = "sync"
"""gunicorn's default worker: one request at a time, connection closed after each. Its
threaded worker (``gthread``, with keep-alive) was no faster here: on one core the
toolkit's own Python work per request is what bounds it, not the connections."""


def pinned(name: str) -> str:
    """The version ``requirements.txt`` pins for ``name``."""
    for text in REQUIREMENTS.read_text().splitlines():
        package, _, version = text.partition("==")
        if package.split("[")[0].strip().lower() == name.lower() and version:
            return version.strip()
    raise KeyError(name)


def install(timeout: float = 600.0) -> Path:
    """A temporary folder with a virtualenv holding the pinned requirements and the
    Django project as ``benchdot``; raises PeerUnavailable when pip cannot install."""
    folder = Path(tempfile.mkdtemp(prefix="tollhouse-bench-dot-"))
    shutil.copytree(PROJECT, folder / "benchdot", ignore=shutil.ignore_patterns("*.txt"))
    try:
        for command in (
            [sys.executable, "-m", "venv", str(folder / "venv")],
            [
                str(folder / "venv" / "bin" / "pip"),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "-r",
                str(REQUIREMENTS),
            ],
        ):
            done = subprocess.run(  # noqa: S603 (our own argv)
                command, capture_output=True, text=True, timeout=timeout, check=False
            )
            if done.returncode != 0:
                raise PeerUnavailable(f"{command[0]} failed: {done.stderr.strip()[-300:]}")
    except subprocess.TimeoutExpired:
        shutil.rmtree(folder, ignore_errors=True)
        raise PeerUnavailable(f"installing the Python peer took over {timeout:.0f} s") from None
    except PeerUnavailable:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


@contextlib.contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database named ``<prefix>_<random>``, dropped afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    asyncio.run(_postgres(POSTGRES_ADMIN, f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        asyncio.run(_postgres(POSTGRES_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def backends(kind: str, workdir: Path) -> Iterator[tuple[Backend, str]]:
    """Tollhouse's backend and the toolkit's database, both fresh and of one kind:
    two SQLite files, or two PostgreSQL databases (``bench_dot_*``) with Redis for
    Tollhouse (flushed before and after; ``TOLLHOUSE_BENCH_REDIS`` picks the database)."""
    if kind == "sqlite":
        yield (
            Backend("SQLite", f"sqlite:///{workdir / 'tollhouse.db'}", None),
            str(workdir / "dot.db"),
        )
        return
    admin = POSTGRES_ADMIN.rsplit("/", 1)[0]
    with postgres_database("bench_dot_tollhouse") as ours, postgres_database("bench_dot") as dot:
        _flush_redis()
        try:
            yield Backend("PostgreSQL + Redis", f"{admin}/{ours}", REDIS), dot
        finally:
            _flush_redis()


@dataclass
class DotPeer:
    """django-oauth-toolkit on one database: ``sqlite`` (``database`` is the file) or
    ``postgres`` (``database`` is the name of a database on ``POSTGRES_ADMIN``'s server)."""

    folder: Path
    kind: str
    database: str
    cpus: str | None
    port: int = field(default_factory=free_port)
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(50))
    client_id: str = "bench-cc"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    unhashed_id: str = "bench-cc-unhashed"
    unhashed_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    introspection_token: str = ""
    extra: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> str:
        return basic(self.client_id, self.client_secret)

    @property
    def unhashed_auth(self) -> str:
        return basic(self.unhashed_id, self.unhashed_secret)

    @property
    def introspection_auth(self) -> str:
        return f"Bearer {self.introspection_token}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BENCH_DOT_", "DJANGO"))}
        env.update(
            DJANGO_SETTINGS_MODULE="benchdot.settings",
            PYTHONPATH=str(self.folder),
            BENCH_DOT_SECRET_KEY=self.secret_key,
            BENCH_DOT_DB=self.kind,
            BENCH_DOT_DB_NAME=self.database,
        )
        if self.kind == "postgres":
            url = urlsplit(POSTGRES_ADMIN)
            env.update(
                BENCH_DOT_DB_HOST=url.hostname or "127.0.0.1",
                BENCH_DOT_DB_PORT=str(url.port or 5432),
                BENCH_DOT_DB_USER=url.username or "postgres",
                BENCH_DOT_DB_PASSWORD=url.password or "",
            )
        return env

    def manage(self, *args: str) -> str:
        done = subprocess.run(  # noqa: S603 (our own argv)
            [str(self.folder / "venv" / "bin" / "python"), "-m", "django", *args],
            cwd=self.folder,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"django-admin {args[0]} failed: {done.stderr.strip()[-500:]}")
        return done.stdout

    def seed(self) -> None:
        """Tables, then both applications, through the toolkit's own commands."""
        self.manage("migrate", "--noinput")
        for client_id, secret, extra in (
            (self.client_id, self.client_secret, ()),
            (self.unhashed_id, self.unhashed_secret, ("--no-hash-client-secret",)),
        ):
            self.manage(
                "createapplication",
                "--client-id",
                client_id,
                "--client-secret",
                secret,
                "--name",
                client_id,
                *extra,
                "confidential",
                "client-credentials",
            )

    def start(self) -> None:
        command = [
            str(self.folder / "venv" / "bin" / "gunicorn"),
            "benchdot.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "1",
            "--worker-class",
            WORKER_CLASS,
            "--access-logfile",
            "-",
            # Its default is one path per user: two arbiters must not share it.
            "--control-socket",
            str(self.folder / f"gunicorn-{self.kind}.ctl"),
            *self.extra,
        ]
        if self.cpus is not None and shutil.which("taskset"):
            command = ["taskset", "-c", self.cpus, *command]
        self.log = (self.folder / f"gunicorn-{self.kind}.log").open("wb")
        self.process = subprocess.Popen(  # noqa: S603 (our own argv)
            command,
            cwd=self.folder,
            env=self.env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_ready(f"{self.base}/o/introspect/", self.process)
        self.introspection_token = self.token("introspection", self.unhashed_auth)

    def token(self, scope: str = SCOPE, auth: str | None = None) -> str:
        answer = httpx.post(
            f"{self.base}/o/token/",
            data={"grant_type": "client_credentials", "scope": scope},
            headers={"Authorization": auth or self.auth},
            timeout=30,
        )
        answer.raise_for_status()
        token: str = answer.json()["access_token"]
        return token

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)
            self.process = None
            self.log.close()

    def rss_mib(self) -> list[float]:
        """Resident memory of the gunicorn worker (the arbiter only supervises it)."""
        return process_tree_rss(self.process.pid) if self.process else []

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Return once the worker has stopped using CPU (or after ``timeout``).

        A sync worker still serves the requests queued in its listen backlog after wrk
        has gone; with hashed secrets that is seconds of work, which would otherwise
        land in the next run of the other server on the same core.
        """
        if self.process is None:
            return
        deadline = time.monotonic() + timeout
        last = tree_cpu_seconds(self.process.pid)
        while time.monotonic() < deadline:
            time.sleep(0.3)
            now = tree_cpu_seconds(self.process.pid)
            if now - last < 0.01:
                return
            last = now
