"""The in-memory revocation list of a SQLite server (storage/sql/revocation_mirror.py): a
revocation committed by anyone is seen by the next check; while nothing is committed,
checks read no table."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.storage.records import NOW, revocation
from tollhouse.models import Revocation
from tollhouse.storage.sql.revocation_mirror import PRUNE_EVERY, DataVersion, RevocationMirror
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


class Visits(dict[str, int]):
    """The mirror's jti → expires_at map, counting the entries a prune looks at."""

    visited = 0

    def get(self, key: str, default: int | None = None) -> int | None:  # type: ignore[override]
        self.visited += 1
        return super().get(key, default)

    def items(self) -> Iterator[tuple[str, int]]:  # type: ignore[override]
        for item in super().items():
            self.visited += 1
            yield item


class Feed:
    """A revocation table in memory, read as the mirror reads it: from a cursor on."""

    def __init__(self) -> None:
        self.rows: list[Revocation] = []

    def add(self, jti: str, expires_at: int) -> None:
        self.rows.append(Revocation(jti, expires_at, NOW, seq=len(self.rows) + 1))

    async def since(self, cursor: int, now: int, limit: int) -> list[Revocation]:
        return [r for r in self.rows if r.seq > cursor][:limit]


async def never_asked(jti: str, now: int) -> bool:
    raise AssertionError("the mirror answers")


def mirror_of(feed: Feed) -> tuple[RevocationMirror, list[int]]:
    """A mirror over ``feed`` whose ``data_version`` is the list's one value."""
    version = [1]
    mirror = RevocationMirror(lambda: version[0], feed.since, never_asked)  # type: ignore[arg-type]
    return mirror, version


async def test_a_prune_looks_only_at_what_has_expired() -> None:
    feed = Feed()
    for number in range(20_000):
        feed.add(f"live-{number}", NOW + 3_600 + number)
    for number in range(10):
        feed.add(f"old-{number}", NOW + 30)
    mirror, version = mirror_of(feed)
    assert not await mirror.is_revoked("none", NOW)  # first sync; the first prune
    assert len(mirror) == 20_010
    visits = Visits(mirror._revoked)
    mirror._revoked = visits
    later = NOW + 2 * PRUNE_EVERY
    version[0] += 1  # a commit: the next check syncs, and prunes
    assert await mirror.is_revoked("live-0", later)
    assert len(mirror) == 20_000
    assert visits.visited <= 20  # the ten expired ones (and the check), not every entry


async def test_a_jti_revoked_again_outlives_its_first_expiry() -> None:
    feed = Feed()
    feed.add("again", NOW + 30)
    mirror, version = mirror_of(feed)
    assert await mirror.is_revoked("again", NOW)
    feed.add("again", NOW + 10 * PRUNE_EVERY)  # its refresh family, revoked for longer
    version[0] += 1
    later = NOW + 3 * PRUNE_EVERY
    assert await mirror.is_revoked("again", later)
    version[0] += 1
    assert await mirror.is_revoked("again", later + PRUNE_EVERY)  # pruned past the first
    assert len(mirror) == 1
    version[0] += 1
    assert not await mirror.is_revoked("again", NOW + 12 * PRUNE_EVERY)
    assert len(mirror) == 0
