"""SQLite store calls on worker threads (storage/sql/sqlite_worker.py): a write waits for
another process's lock and goes through once it is free; past the wait it is
``StorageUnavailable`` (503), and nothing half-written stays."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event as sqlalchemy_event

from tests.storage import records as make
from tollhouse.errors import StorageUnavailable
from tollhouse.storage.sql import sqlite_worker
from tollhouse.storage.sql.storage import SqlStorage, open_storage


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[SqlStorage]:
    storage = await open_storage(f"sqlite:///{tmp_path / 'idp.db'}")
    try:
        yield storage
    finally:
        await storage.close()


def hold_write_lock(path: Path, seconds: float) -> threading.Thread:
    """Another process's writer: takes the lock, keeps it ``seconds``, rolls back."""
    taken = threading.Event()

    def hold() -> None:
        with sqlite3.connect(path, isolation_level=None) as other:
            other.execute("BEGIN IMMEDIATE")
            taken.set()
            threading.Event().wait(seconds)
            other.execute("ROLLBACK")

    thread = threading.Thread(target=hold)
    thread.start()
    assert taken.wait(5)
    return thread


async def test_a_write_waits_for_another_writer_then_lands(
    storage: SqlStorage, tmp_path: Path
) -> None:
    holder = hold_write_lock(tmp_path / "idp.db", 0.3)
    await storage.add_client(make.client())  # waits out the 0.3 s, then commits
    holder.join()
    assert await storage.get_client(make.client().client_id) == make.client()


async def test_reads_go_on_while_another_process_holds_the_write_lock(
    storage: SqlStorage, tmp_path: Path
) -> None:
    await storage.add_client(make.client())
    holder = hold_write_lock(tmp_path / "idp.db", 1.0)
    try:
        found = await asyncio.wait_for(storage.get_client(make.client().client_id), 0.5)
        assert found == make.client()
    finally:
        holder.join()


async def test_a_lock_held_past_the_wait_is_storage_unavailable(
    storage: SqlStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_worker, "LOCK_WAIT", 0.2)
    holder = hold_write_lock(tmp_path / "idp.db", 0.8)
    try:
        with pytest.raises(StorageUnavailable):
            await storage.add_client(make.client())
    finally:
        holder.join()
    assert await storage.get_client(make.client().client_id) is None
    await storage.add_client(make.client())  # the lock is free again: it works


async def test_writes_queued_together_share_one_commit(storage: SqlStorage, tmp_path: Path) -> None:
    """Group commit: the writes waiting for the writer go into one transaction, and each
    caller gets its answer once that transaction is committed."""
    commits: list[int] = []
    engine = storage._backend.worker._engine  # type: ignore[attr-defined]  # the writer's engine
    sqlalchemy_event.listen(engine, "commit", lambda _connection: commits.append(1))
    holder = hold_write_lock(tmp_path / "idp.db", 0.3)  # the writes queue up meanwhile
    try:
        await asyncio.gather(*(storage.add_client(make.client(f"c-{n}")) for n in range(10)))
    finally:
        holder.join()
    assert len(commits) <= 3  # the first write alone, then the rest together
    listed = {client.client_id for client in await storage.list_clients()}
    assert listed == {f"c-{n}" for n in range(10)}


async def test_a_failing_write_in_a_batch_gets_its_error_and_the_others_land(
    storage: SqlStorage, tmp_path: Path
) -> None:
    holder = hold_write_lock(tmp_path / "idp.db", 0.3)
    try:
        outcomes = await asyncio.gather(
            storage.add_client(make.client("first")),
            storage.add_client(make.client("twice", name="A")),
            storage.add_client(make.client("twice", name="B")),  # a conflict: A came first
            storage.add_client(make.client("last")),
            return_exceptions=True,
        )
    finally:
        holder.join()
    assert [type(outcome).__name__ for outcome in outcomes] == [
        "NoneType",
        "NoneType",
        "Conflict",
        "NoneType",
    ]
    twice = await storage.get_client("twice")
    assert twice is not None and twice.name == "A"
    assert {c.client_id for c in await storage.list_clients()} == {"first", "twice", "last"}


async def test_a_write_whose_request_went_away_while_it_queued_is_not_run(
    storage: SqlStorage, tmp_path: Path
) -> None:
    holder = hold_write_lock(tmp_path / "idp.db", 0.3)
    try:
        first = asyncio.create_task(storage.add_client(make.client("first")))
        await asyncio.sleep(0.05)  # the writer is waiting out the lock with "first"
        gone = asyncio.create_task(storage.add_client(make.client("gone")))
        kept = asyncio.create_task(storage.add_client(make.client("kept")))
        await asyncio.sleep(0.05)
        gone.cancel()
        await asyncio.gather(first, kept)
        with pytest.raises(asyncio.CancelledError):
            await gone
    finally:
        holder.join()
    assert {c.client_id for c in await storage.list_clients()} == {"first", "kept"}


async def test_reads_and_writes_from_two_event_loops_each_reach_their_own(tmp_path: Path) -> None:
    """Outcomes go back to the loop that asked (one hand-over per loop and batch)."""
    storage = await open_storage(f"sqlite:///{tmp_path / 'idp.db'}")
    try:

        def other_loop() -> list[str]:
            async def work() -> list[str]:
                await asyncio.gather(*(storage.add_client(make.client(f"o-{n}")) for n in range(5)))
                return sorted(c.client_id for c in await storage.list_clients())

            return asyncio.run(work())

        mine = asyncio.gather(*(storage.add_client(make.client(f"m-{n}")) for n in range(5)))
        theirs = asyncio.to_thread(other_loop)
        _, listed = await asyncio.gather(mine, theirs)
        assert {f"o-{n}" for n in range(5)} <= set(listed)
        assert {c.client_id for c in await storage.list_clients()} == {
            *(f"m-{n}" for n in range(5)),
            *(f"o-{n}" for n in range(5)),
        }
    finally:
        await storage.close()
