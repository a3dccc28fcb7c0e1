"""The in-memory revocation list of a SQLite server (storage/sql/revocation_mirror.py): a
revocation committed by anyone is seen by the next check; while nothing is committed,
checks read no table."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.storage.records import NOW, revocation
from tollhouse.models import Revocation
from tollhouse.storage.sql.revocation_mirror import DataVersion
from tollhouse.storage.sql.storage import SqlStorage, open_storage


@pytest.fixture
async def two_servers(tmp_path: Path) -> AsyncIterator[tuple[SqlStorage, SqlStorage, Path]]:
    """Two storages on one file, as two worker processes have."""
    path = tmp_path / "idp.db"
    first = await open_storage(f"sqlite:///{path}")
    second = await open_storage(f"sqlite:///{path}", migrate=False)
    try:
        yield first, second, path
    finally:
        await first.close()
        await second.close()


async def test_a_revocation_by_another_process_is_seen_by_the_next_check(
    two_servers: tuple[SqlStorage, SqlStorage, Path],
) -> None:
    first, second, _ = two_servers
    assert not await first.is_revoked("jti-1", NOW)  # mirror loaded, nothing revoked
    await second.revoke(revocation("jti-1"))
    assert await first.is_revoked("jti-1", NOW)
    assert not await first.is_revoked("jti-2", NOW)


async def test_a_revocation_written_outside_tollhouse_is_seen_too(
    two_servers: tuple[SqlStorage, SqlStorage, Path],
) -> None:
    first, _, path = two_servers
    assert not await first.is_revoked("jti-cli", NOW)
    with sqlite3.connect(path) as raw:  # what `tollhouse tokens revoke` does, from afar
        raw.execute(
            "INSERT INTO revocations (jti, expires_at, revoked_at, reason) VALUES (?, ?, ?, ?)",
            ("jti-cli", NOW + 600, NOW, "revoked"),
        )
    assert await first.is_revoked("jti-cli", NOW)


async def test_expired_revocations_answer_not_revoked(
    two_servers: tuple[SqlStorage, SqlStorage, Path],
) -> None:
    first, second, _ = two_servers
    await second.revoke(revocation("jti-old", expires_at=NOW + 10))
    assert await first.is_revoked("jti-old", NOW)
    assert not await first.is_revoked("jti-old", NOW + 10)


async def test_while_nothing_is_committed_no_table_is_read(
    two_servers: tuple[SqlStorage, SqlStorage, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, _ = two_servers
    await second.revoke(revocation("jti-1"))
    assert await first.is_revoked("jti-1", NOW)
    reads: list[int] = []
    original = first.revocations_since

    async def counted(cursor: int, now: int, limit: int) -> list[Revocation]:
        reads.append(cursor)
        return await original(cursor, now, limit)

    mirror = first._backend.revocation_mirror  # type: ignore[attr-defined]
    assert mirror is not None
    monkeypatch.setattr(mirror, "_since", counted)
    for _ in range(50):
        assert await first.is_revoked("jti-1", NOW)
        assert not await first.is_revoked("jti-9", NOW)
    assert reads == []
    await second.revoke(revocation("jti-9"))
    assert await first.is_revoked("jti-9", NOW)
    assert len(reads) == 1 and reads[0] > 0  # read on from the cursor, not from the start


async def test_when_data_version_cannot_be_read_the_table_answers(
    two_servers: tuple[SqlStorage, SqlStorage, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, _ = two_servers
    mirror = first._backend.revocation_mirror  # type: ignore[attr-defined]
    assert mirror is not None
    monkeypatch.setattr(mirror, "_version", lambda: None)
    await second.revoke(revocation("jti-1"))
    assert await first.is_revoked("jti-1", NOW)
    assert not await first.is_revoked("jti-2", NOW)


def test_data_version_changes_with_every_commit_of_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    with sqlite3.connect(path) as writer:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("CREATE TABLE t (x)")
    version = DataVersion(path)
    try:
        before = version()
        assert before is not None and version() == before
        with sqlite3.connect(path) as writer:
            writer.execute("INSERT INTO t VALUES (1)")
        after = version()
        assert after is not None and after != before
    finally:
        version.close()


def test_data_version_of_a_missing_file_is_unknown(tmp_path: Path) -> None:
    version = DataVersion(tmp_path / "nothing-here.db")
    assert version() is None
    version.close()
