"""Backends for the storage contract: memory, a SQLite file, and real PostgreSQL.

PostgreSQL runs against a database created for this test session (and dropped at its
end), migrated once; each test starts from empty tables. Point
``TOLLHOUSE_TEST_POSTGRES`` elsewhere to use another server. If the server cannot be
reached the PostgreSQL cases are skipped, unless ``CI=true``, where they fail.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tollhouse.storage.memory import MemoryStorage
from tollhouse.storage.ports import Storage
from tollhouse.storage.sql.engine import async_url, create_engine
from tollhouse.storage.sql.migrate import migrate
from tollhouse.storage.sql.schema import metadata
from tollhouse.storage.sql.storage import SqlStorage, open_storage

POSTGRES_ADMIN_URL = os.environ.get(
    "TOLLHOUSE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)

T = TypeVar("T")


def run_in_thread(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on its own loop in a worker thread, away from pytest-asyncio's."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work()).result()


class PostgresServer:
    """Creates and drops throw-away databases on the test server."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    def url_for(self, database: str) -> str:
        url = make_url(async_url(self.admin_url)).set(database=database)
        return url.render_as_string(hide_password=False)

    async def _execute(self, statement: str) -> None:
        engine = create_async_engine(async_url(self.admin_url), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    async def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"tollhouse_test_{secrets.token_hex(6)}"
        await self._execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.url_for(name)

    async def drop_all(self) -> None:
        for name in self.created:
            await self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer(POSTGRES_ADMIN_URL)
    try:
        run_in_thread(lambda: server._execute("SELECT 1"))
    except Exception as exc:
        reason = f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}: {exc!r}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield server
    finally:
        run_in_thread(server.drop_all)


@pytest.fixture(scope="session")
def postgres_url(postgres: PostgresServer) -> str:
    """A database migrated once for the session; tests empty it before use."""

    async def create_and_migrate() -> str:
        url = await postgres.create_database()
        await migrate(url)
        return url

    return run_in_thread(create_and_migrate)


async def empty_tables(storage: SqlStorage) -> None:
    names = ", ".join(table.name for table in metadata.sorted_tables)
    async with storage.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {names} CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated database: a fresh SQLite file or the session's
    PostgreSQL database (emptied by the ``sql_storage`` fixture)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'tollhouse.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def sql_storage(sql_url: str) -> AsyncIterator[SqlStorage]:
    storage = await open_storage(sql_url)
    try:
        if storage.engine.dialect.name == "postgresql":
            await empty_tables(storage)
        yield storage
    finally:
        await storage.close()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """Each contract test runs once per backend."""
    if request.param == "memory":
        yield MemoryStorage()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tollhouse.db'}"
        sql = await open_storage(url)
    else:
        sql = SqlStorage(create_engine(request.getfixturevalue("postgres_url")))
        await empty_tables(sql)
    try:
        yield sql
    finally:
        await sql.close()
