"""Where the servers of the e2e tests keep their state: SQLite, or PostgreSQL + Redis.

``TOLLHOUSE_TEST_BACKEND=postgresql`` runs the ``server`` fixture (and every test that
asks :func:`backend` for its database) on a fresh PostgreSQL database created for the
module and dropped after it, with ``--redis``: CI runs ``tests/e2e`` once per backend.
``TOLLHOUSE_TEST_POSTGRES`` (an admin URL) and ``TOLLHOUSE_TEST_REDIS`` point
elsewhere; each pytest-xdist worker otherwise gets a Redis database of its own. An
unreachable server skips the test, unless ``CI=true``: then it fails.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest
from redis import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tollhouse.storage.sql.engine import async_url

BACKEND = os.environ.get("TOLLHOUSE_TEST_BACKEND", "sqlite")
POSTGRES_ADMIN_URL = os.environ.get(
    "TOLLHOUSE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


def _redis_url() -> str:
    """Redis database 0, or one per pytest-xdist worker (gw0 → 1, gw1 → 2, …): the servers
    of the modules running at the same time keep their login-guard counts and revocations
    apart, as when the modules run one after another."""
    configured = os.environ.get("TOLLHOUSE_TEST_REDIS")
    if configured:
        return configured
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    database = 1 + int(worker.removeprefix("gw")) % 14 if worker.startswith("gw") else 0
    return f"redis://127.0.0.1:6379/{database}"


REDIS_URL = _redis_url()


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail under CI (where every service must be there)."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def url_with_database(admin_url: str, database: str) -> str:
    """``admin_url`` pointing at ``database``, in the plain form operators pass."""
    url = make_url(admin_url).set(database=database)
    return url.render_as_string(hide_password=False)


async def _admin(admin_url: str, statement: str) -> None:
    engine = create_async_engine(async_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@contextmanager
def postgres_database(admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[str]:
    """A fresh, empty database on the PostgreSQL server of ``admin_url``, dropped after."""
    name = f"tollhouse_e2e_{secrets.token_hex(6)}"
    try:
        asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        unavailable(f"PostgreSQL unreachable at {admin_url}: {exc!r}")
    try:
        yield url_with_database(admin_url, name)
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def require_redis(url: str = REDIS_URL) -> None:
    client = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        unavailable(f"Redis unreachable at {url}: {exc!r}")
    finally:
        client.close()


@contextmanager
def backend(data_dir: Path) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(database URL to seed, extra ``tollhouse serve`` arguments) for the selected
    backend: the SQLite file of ``data_dir``, or a fresh PostgreSQL database + Redis."""
    if BACKEND == "sqlite":
        yield f"sqlite:///{data_dir / 'tollhouse.db'}", ()
        return
    if BACKEND != "postgresql":
        raise ValueError(f"TOLLHOUSE_TEST_BACKEND must be sqlite or postgresql, not {BACKEND!r}")
    require_redis()
    with postgres_database() as url:
        yield url, ("--database", url, "--redis", REDIS_URL)
