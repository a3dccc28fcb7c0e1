"""A SQLite database and its companions are created, or tightened to, owner-only modes."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from tollhouse.storage.sql.files import prepare_sqlite_file, restrict_to_owner


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_and_its_directory_are_the_owners_only(tmp_path: Path) -> None:
    database = tmp_path / "new" / "tollhouse.db"
    prepare_sqlite_file(database)
    assert mode(database) == 0o600
    assert mode(database.parent) == 0o700
    assert database.stat().st_size == 0  # SQLite reads an empty file as an empty database


def test_existing_files_readable_by_others_are_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "tollhouse.db"
    database.write_bytes(b"")
    wal = tmp_path / "tollhouse.db-wal"
    wal.write_bytes(b"")
    database.chmod(0o644)
    wal.chmod(0o664)
    with caplog.at_level(logging.WARNING):
        prepare_sqlite_file(database)
    assert (mode(database), mode(wal)) == (0o600, 0o600)
    assert "tightened" in caplog.text


def test_owner_only_paths_and_missing_ones_are_left_alone(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.write_bytes(b"")
    private.chmod(0o400)
    assert restrict_to_owner(private) is False
    assert mode(private) == 0o400
    assert restrict_to_owner(tmp_path / "missing") is False
