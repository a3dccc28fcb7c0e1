"""The seam between SQLite and PostgreSQL (storage/sql/backend.py): chosen once, from
the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tollhouse.storage.sql.backend import backend_for
from tollhouse.storage.sql.engine import create_engine
from tollhouse.storage.sql.postgres_backend import PostgresBackend
from tollhouse.storage.sql.sqlite_backend import SqliteBackend


async def test_a_sqlite_file_gets_the_sqlite_backend(tmp_path: Path) -> None:
    backend = backend_for(create_engine(f"sqlite:///{tmp_path / 'idp.db'}"))
    try:
        assert isinstance(backend, SqliteBackend)
    finally:
        await backend.close()


async def test_a_postgresql_url_gets_the_postgresql_backend() -> None:
    backend = backend_for(create_engine("postgresql://nobody@127.0.0.1:1/none"))
    try:
        assert isinstance(backend, PostgresBackend)
    finally:
        await backend.close()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
async def test_sqlite_without_a_file_is_refused(url: str) -> None:
    """The worker threads and the migrations each open the file: an in-memory database
    would be a different, empty one on every connection."""
    engine = create_engine(url)
    try:
        with pytest.raises(ValueError, match="SQLite file"):
            backend_for(engine)
    finally:
        await engine.dispose()
