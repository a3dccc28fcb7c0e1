"""A database that cannot be reached is ``StorageUnavailable`` (503 + Retry-After for
the client, RFC 6749 §5.2 ``temporarily_unavailable``); a bug stays a bug (500)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from tests.storage import records as make
from tollhouse.errors import StorageUnavailable, TemporarilyUnavailable
from tollhouse.storage.sql import engine as sql_engine
from tollhouse.storage.sql.engine import create_engine, is_unreachable, reachable
from tollhouse.storage.sql.storage import SqlStorage, open_storage


async def test_every_store_call_on_an_unreachable_server_is_storage_unavailable() -> None:
    storage = SqlStorage(create_engine("postgresql://nobody@127.0.0.1:1/none"))
    try:
        with pytest.raises(StorageUnavailable) as caught:
            await storage.get_client("x")
        assert isinstance(caught.value, TemporarilyUnavailable)
        assert caught.value.status == 503 and caught.value.error == "temporarily_unavailable"
        assert caught.value.debug and "refused" in caught.value.debug.lower()
        with pytest.raises(StorageUnavailable):
            await storage.add_key(make.key())
    finally:
        await storage.close()


async def test_an_sql_error_that_is_a_bug_is_not_hidden_as_unavailable(tmp_path: Path) -> None:
    storage = await open_storage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        with pytest.raises(OperationalError, match="no such table"):
            await storage._unit(
                lambda connection: connection.execute(text("SELECT * FROM no_such_table")),
                write=False,
            )
    finally:
        await storage.close()


def test_sqlite_locked_past_the_busy_timeout_is_unreachable() -> None:
    locked = OperationalError("UPDATE …", {}, sqlite3.OperationalError("database is locked"))
    assert is_unreachable(locked)
    syntax = OperationalError("SELEC", {}, sqlite3.OperationalError('near "SELEC": syntax'))
    assert not is_unreachable(syntax)
    assert is_unreachable(ConnectionResetError()) and is_unreachable(TimeoutError())
    assert not is_unreachable(ValueError("bug"))


async def test_reachable_translates_and_keeps_the_cause() -> None:
    refused = ConnectionRefusedError(111, "Connect call failed")
    with pytest.raises(StorageUnavailable) as caught:
        async with reachable():
            raise refused
    assert caught.value.__cause__ is refused
    with pytest.raises(KeyError):
        async with reachable():
            raise KeyError("a bug")


async def test_a_pool_with_every_connection_busy_is_unavailable_after_the_wait(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each process keeps POOL_SIZE connections and opens no more: a store call that
    finds all of them busy for POOL_TIMEOUT seconds is a 503, and one finds a connection
    again as soon as one is returned."""
    monkeypatch.setattr(sql_engine, "POOL_SIZE", 3)
    monkeypatch.setattr(sql_engine, "POOL_TIMEOUT", 0.3)
    storage = SqlStorage(create_engine(postgres_url))
    engine = storage.engine
    try:
        held = [await engine.connect() for _ in range(3)]
        await held[0].execute(text("SELECT 1"))
        with pytest.raises(StorageUnavailable) as caught:
            await storage.get_client("nobody")
        assert caught.value.status == 503
        assert caught.value.debug and "TimeoutError" in caught.value.debug
        await held.pop().close()
        assert await storage.get_client("nobody") is None
        assert engine.pool.size() == 3 and engine.pool.overflow() <= 0  # type: ignore[attr-defined]
        for connection in held:
            await connection.close()
    finally:
        await storage.close()


async def test_a_read_on_a_connection_the_server_cut_is_503_once_then_served(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads go straight to asyncpg (storage/sql/prepared.py): a pooled connection whose
    backend was terminated fails one read with 503 and leaves the pool, and the next
    read gets a new connection."""
    monkeypatch.setattr(sql_engine, "POOL_SIZE", 1)
    storage = SqlStorage(create_engine(postgres_url))
    admin = create_engine(postgres_url)
    try:
        assert not await storage.is_revoked("jti-never-revoked-anywhere", make.NOW)
        async with storage.engine.connect() as connection:
            pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with admin.connect() as connection:
            cut = text("SELECT pg_terminate_backend(:pid, 5000)")
            assert (await connection.execute(cut, {"pid": pid})).scalar_one()
        with pytest.raises(StorageUnavailable) as caught:
            await storage.is_revoked("jti-never-revoked-anywhere", make.NOW)
        assert caught.value.status == 503
        assert not await storage.is_revoked("jti-never-revoked-anywhere", make.NOW)
        async with storage.engine.connect() as connection:
            again = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert again != pid
    finally:
        await admin.dispose()
        await storage.close()
