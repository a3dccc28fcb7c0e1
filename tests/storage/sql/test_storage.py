"""What only the SQL adapter has to prove: migrations, engines, and races between
processes. Runs on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text

from tests.storage import records as make
from tests.storage.conftest import PostgresServer
from tests.storage.records import NOW
from tollhouse.errors import StorageUnavailable
from tollhouse.storage.ports import IssuedByCode
from tollhouse.storage.sql import engine as sql_engine
from tollhouse.storage.sql.engine import async_url, create_engine, execute_pragma
from tollhouse.storage.sql.migrate import alembic_config, migrate
from tollhouse.storage.sql.schema import metadata
from tollhouse.storage.sql.storage import SqlStorage, open_storage


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def current_revision(storage: SqlStorage) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with storage.engine.connect() as connection:
        return await connection.run_sync(read)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/lib/t.db", "sqlite+aiosqlite:///var/lib/t.db"),
        ("sqlite:////abs/t.db", "sqlite+aiosqlite:////abs/t.db"),
        ("sqlite+aiosqlite:///t.db", "sqlite+aiosqlite:///t.db"),
        ("postgresql://u:p@db:5432/idp", "postgresql+asyncpg://u:p@db:5432/idp"),
        ("postgres://u@db/idp", "postgresql+asyncpg://u@db/idp"),
        ("postgresql+asyncpg://u@db/idp", "postgresql+asyncpg://u@db/idp"),
    ],
)
def test_async_url_picks_the_asyncio_driver(url: str, expected: str) -> None:
    assert async_url(url) == expected


async def test_migration_is_idempotent(sql_storage: SqlStorage, sql_url: str) -> None:
    await sql_storage.add_user(make.user())
    await migrate(sql_url)
    await migrate(sql_url)
    assert await current_revision(sql_storage) == head_revision()
    assert await sql_storage.get_user_by_username("alice") == make.user()


async def test_migrated_schema_matches_the_table_definitions(sql_storage: SqlStorage) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with sql_storage.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_code_is_consumed_once_by_racing_processes(
    sql_storage: SqlStorage, sql_url: str
) -> None:
    """20 redemptions of one code on separate engines (as separate server processes
    would be) and separate connections, each with its own family: exactly one wins, and
    only the winner's family and record are stored."""
    await sql_storage.add_client(make.client())
    await sql_storage.add_user(make.user())
    await sql_storage.add_code(make.code())

    def issued(n: int) -> IssuedByCode:
        token = make.refresh_token(f"refresh-{n}", family_id=f"family-{n}")
        return IssuedByCode(
            f"jti-{n}", NOW + 900, family=make.family(f"family-{n}"), first_token=token
        )

    processes = [SqlStorage(create_engine(sql_url)) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *(
                processes[n % len(processes)].consume_code("code-hash-1", NOW + 1, issued(n))
                for n in range(20)
            )
        )
    finally:
        for process in processes:
            await process.close()
    winners = [n for n, r in enumerate(results) if r is not None]
    assert len(winners) == 1
    code = await sql_storage.get_code("code-hash-1")
    assert code is not None and code.used_at == NOW + 1
    assert code.family_id == f"family-{winners[0]}"
    families = [n for n in range(20) if await sql_storage.get_family(f"family-{n}")]
    assert families == winners


async def test_refresh_token_is_rotated_once_by_racing_processes(
    sql_storage: SqlStorage, sql_url: str
) -> None:
    """10 rotations of one refresh token, each on its own engine (as separate server
    processes would be): exactly one wins, and only its successor is stored."""
    await sql_storage.add_client(make.client())
    await sql_storage.add_family(make.family())
    await sql_storage.add_refresh_token(make.refresh_token())
    processes = [SqlStorage(create_engine(sql_url)) for _ in range(10)]
    successors = [make.refresh_token(f"successor-{i}", created_at=NOW + 1) for i in range(10)]
    try:
        results = await asyncio.gather(
            *(
                process.rotate_refresh_token(
                    "refresh-hash-1", successor, NOW + 1, replaces="refresh-hash-1"
                )
                for process, successor in zip(processes, successors, strict=True)
            )
        )
    finally:
        for process in processes:
            await process.close()
    winners = [i for i, r in enumerate(results) if r is not None]
    assert len(winners) == 1
    stored = [s for s in successors if await sql_storage.get_refresh_token(s.token_hash)]
    assert stored == [successors[winners[0]]]
    old = await sql_storage.get_refresh_token("refresh-hash-1")
    assert old is not None
    assert (old.used_at, old.replaced_by) == (NOW + 1, successors[winners[0]].token_hash)


async def test_revocations_are_numbered_by_racing_processes_without_clashes(
    sql_storage: SqlStorage, sql_url: str
) -> None:
    """Revocations written at once from separate engines all get distinct numbers,
    and a jti revoked by several of them is stored once."""
    processes = [SqlStorage(create_engine(sql_url)) for _ in range(5)]
    try:
        await asyncio.gather(
            *(
                process.revoke(make.revocation(f"jti-{n % 8}"))
                for n, process in enumerate(processes * 4)
            )
        )
    finally:
        for process in processes:
            await process.close()
    feed = await sql_storage.revocations_since(0, NOW, 100)
    assert sorted(r.jti for r in feed) == [f"jti-{n}" for n in range(8)]
    assert len({r.seq for r in feed}) == 8


@pytest.fixture(params=["sqlite", "postgresql"])
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database that was never migrated."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'new' / 'dir' / 'tollhouse.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return await server.create_database()


MIGRATE_IN_A_PROCESS = (
    "import asyncio, sys\n"
    "from tollhouse.storage.sql.migrate import migrate\n"
    "asyncio.run(migrate(sys.argv[1]))\n"
)


async def assert_migrated_to_head(url: str) -> None:
    storage = await open_storage(url, migrate=False)
    try:
        assert await current_revision(storage) == head_revision()
        await storage.add_user(make.user())
        assert await storage.list_users() == [make.user()]
    finally:
        await storage.close()


async def test_processes_starting_together_migrate_a_fresh_database_once(fresh_url: str) -> None:
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            MIGRATE_IN_A_PROCESS,
            fresh_url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outputs = [await process.communicate() for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, outputs
    await assert_migrated_to_head(fresh_url)


async def test_concurrent_migrations_in_one_process_take_turns(fresh_url: str) -> None:
    await asyncio.gather(*(migrate(fresh_url) for _ in range(4)))
    await assert_migrated_to_head(fresh_url)


async def test_sqlite_file_keeps_its_data_and_uses_wal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'tollhouse.db'}"
    first = await open_storage(url)
    try:
        await first.add_user(make.user())
    finally:
        await first.close()

    second = await open_storage(url)
    try:
        assert await second.get_user_by_username("alice") == make.user()
        async with second.engine.connect() as connection:
            journal_mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
            foreign_keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar()
            busy_timeout = (await connection.execute(text("PRAGMA busy_timeout"))).scalar()
        assert (journal_mode, foreign_keys, busy_timeout) == ("wal", 1, 5000)
    finally:
        await second.close()


class LockedCursor:
    """Says "database is locked" a few times, as SQLite does (without waiting for the
    busy timeout) to a process that finds another one switching a new file to WAL."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.executed: list[str] = []

    def execute(self, statement: str) -> None:
        self.executed.append(statement)
        if self.refusals:
            self.refusals -= 1
            raise sqlite3.OperationalError("database is locked")


def test_switch_to_wal_is_retried_while_another_process_switches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sql_engine, "WAL_SWITCH_PAUSE", 0)
    cursor = LockedCursor(refusals=3)
    execute_pragma(cursor, "PRAGMA journal_mode=WAL")
    assert cursor.executed == ["PRAGMA journal_mode=WAL"] * 4


def test_switch_to_wal_gives_up_after_the_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql_engine, "WAL_SWITCH_PAUSE", 0)
    cursor = LockedCursor(refusals=sql_engine.WAL_SWITCH_ATTEMPTS)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        execute_pragma(cursor, "PRAGMA journal_mode=WAL")


def test_other_pragmas_are_not_retried() -> None:
    cursor = LockedCursor(refusals=1)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        execute_pragma(cursor, "PRAGMA foreign_keys=ON")
    assert cursor.executed == ["PRAGMA foreign_keys=ON"]


async def test_ping_fails_when_the_database_is_unreachable(tmp_path: Path) -> None:
    storage = SqlStorage(create_engine("postgresql://nobody@127.0.0.1:1/none"))
    try:
        # Unreachable is a 503 for clients (StorageUnavailable), the cause kept.
        with pytest.raises(StorageUnavailable) as caught:
            await storage.ping()
        assert isinstance(caught.value.__cause__, OSError)
    finally:
        await storage.close()


async def test_a_postgresql_read_runs_outside_a_transaction(postgres_url: str) -> None:
    """What the server is sent besides the statements themselves: a write of several
    statements is wrapped in BEGIN and COMMIT; a read, or a write of one statement (it
    is its own transaction), in nothing: those were two more round trips each."""
    storage = SqlStorage(create_engine(postgres_url))
    sent: list[str] = []

    def log_queries(dbapi_connection: Any, _record: object) -> None:
        # Transaction control only (asyncpg's logger also sees some bound statements).
        dbapi_connection.driver_connection.add_query_logger(
            lambda record: (
                sent.append(record.query.strip(" ;").upper())
                if record.query.strip(" ;").upper() in ("BEGIN", "COMMIT", "ROLLBACK")
                else None
            )
        )

    event.listen(storage.engine.sync_engine, "connect", log_queries)
    try:
        await storage.add_client(make.client("reads-client"))
        assert sent[-2:] == ["BEGIN", "COMMIT"]
        sent.clear()
        assert await storage.get_client("reads-client") is not None
        assert await storage.get_client("nobody") is None
        assert sent == []
        # A write of one statement commits on its own: no BEGIN … COMMIT around it.
        await storage.add_user(make.user("reads-user"))
        await storage.add_code(
            make.code("reads-code", client_id="reads-client", user_id="sub-reads-user")
        )
        sent.clear()
        consumed = await storage.consume_code("reads-code", NOW + 1)
        assert consumed is not None and consumed.used_at == NOW + 1
        assert await storage.consume_code("reads-code", NOW + 2) is None
        assert sent == []
        # So does a code consumed with the family and first token it issues.
        await storage.add_code(
            make.code("reads-code-2", client_id="reads-client", user_id="sub-reads-user")
        )
        sent.clear()
        family = make.family("reads-family", client_id="reads-client")
        first = make.refresh_token("reads-refresh", family_id="reads-family")
        issued = IssuedByCode("reads-jti", NOW + 900, family=family, first_token=first)
        assert await storage.consume_code("reads-code-2", NOW + 1, issued) is not None
        assert sent == []
        assert await storage.get_family("reads-family") == family
    finally:
        await storage.delete_client("reads-client")
        await storage.delete_user("reads-user")
        await storage.close()
