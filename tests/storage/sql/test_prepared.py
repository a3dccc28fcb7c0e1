"""The hot statements on SQLite's own cursor (storage/sql/prepared.py): the same rows,
the same type conversions and the same errors as through SQLAlchemy."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, bindparam, create_engine, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from tollhouse.storage.sql import codes as sql_codes
from tollhouse.storage.sql import tokens as sql_tokens
from tollhouse.storage.sql.prepared import Prepared, _compile
from tollhouse.storage.sql.schema import (
    access_tokens,
    authorization_codes,
    metadata,
    refresh_tokens,
    token_families,
)
from tollhouse.storage.sql.sqlite_worker import _locked

FAMILY = {
    "family_id": "f1",
    "client_id": "c1",
    "subject": "u1",
    "created_at": 100,
    "expires_at": 200,
    "revoked_at": None,
    "revoked_reason": None,
    "sid": None,
    "offline": True,
}
GET_FAMILY = Prepared(
    select(token_families).where(token_families.c.family_id == bindparam("family_id"))
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'idp.db'}")
    metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()


HOT = {
    "INSERT_FAMILY": (sql_tokens.INSERT_FAMILY, [c.key for c in token_families.c]),
    "INSERT_REFRESH_TOKEN": (sql_tokens.INSERT_REFRESH_TOKEN, [c.key for c in refresh_tokens.c]),
    "INSERT_ACCESS_TOKENS": (sql_tokens.INSERT_ACCESS_TOKENS, [c.key for c in access_tokens.c]),
    "MARK_REPLACED": (sql_tokens.MARK_REPLACED, ["replaced", "successor"]),
    "GET_REFRESH_TOKEN": (sql_tokens.GET_REFRESH_TOKEN, ["token_hash"]),
    "CONSUME_IN_LIVE_FAMILY": (sql_tokens.CONSUME_IN_LIVE_FAMILY, ["hash", "now"]),
    "IS_REVOKED": (sql_tokens.IS_REVOKED, ["jti", "now"]),
    "GET_CODE": (sql_codes.GET_CODE, ["code_hash"]),
    "CONSUME_CODE": (sql_codes.CONSUME_CODE, ["hash", "now", "jti", "exp", "family"]),
}


@pytest.mark.parametrize("name", sorted(HOT))
def test_every_hot_statement_runs_on_the_cursor_on_sqlite(engine: Engine, name: str) -> None:
    prepared, keys = HOT[name]
    compiled = _compile(prepared.statement, engine.dialect, tuple(keys))
    assert compiled is not None
    assert set(compiled.names) == set(keys)


def test_booleans_go_in_and_come_out_as_through_sqlalchemy(engine: Engine) -> None:
    with engine.begin() as connection:
        sql_tokens.INSERT_FAMILY.run(connection, FAMILY)
        sql_tokens.INSERT_FAMILY.run(connection, {**FAMILY, "family_id": "f2", "offline": False})
    with engine.connect() as connection:
        for family_id, offline in (("f1", True), ("f2", False)):
            ours = GET_FAMILY.first(connection, {"family_id": family_id})
            theirs = (
                connection.execute(GET_FAMILY.statement, {"family_id": family_id})
                .mappings()
                .first()
            )
            assert ours == dict(theirs or {})
            assert ours is not None and ours["offline"] is offline
        stored = connection.exec_driver_sql("SELECT offline FROM token_families ORDER BY 1")
        assert [row[0] for row in stored] == [0, 1]


def test_returning_gives_the_row_once_and_then_none(engine: Engine) -> None:
    code = {
        "code_hash": "h1",
        "client_id": "c1",
        "user_id": "u1",
        "redirect_uri": "https://app.example/cb",
        "scopes": "[]",
        "audience": "https://api.example",
        "created_at": 100,
        "expires_at": 200,
        "auth_time": 100,
    }
    with engine.begin() as connection:
        connection.execute(insert(authorization_codes), code)
    with engine.begin() as connection:
        spend = {"hash": "h1", "now": 150, "jti": None, "exp": None, "family": None}
        first = sql_codes.CONSUME_CODE.first(connection, spend)
        again = sql_codes.CONSUME_CODE.first(connection, spend)
    assert first is not None and first["used_at"] == 150 and first["code_hash"] == "h1"
    assert again is None
    with engine.connect() as connection:
        assert sql_codes.GET_CODE.first(connection, {"code_hash": "h1"}) == first


def test_many_rows_in_one_executemany(engine: Engine) -> None:
    rows = [
        {
            "jti": f"j{n}",
            "client_id": "c1",
            "subject": "u1",
            "family_id": None,
            "expires_at": 200,
            "issued_at": 100,
        }
        for n in range(5)
    ]
    with engine.begin() as connection:
        sql_tokens.INSERT_ACCESS_TOKENS.run_many(connection, rows)
        sql_tokens.INSERT_ACCESS_TOKENS.run_many(connection, [])
    with engine.connect() as connection:
        stored = connection.execute(select(access_tokens).order_by(access_tokens.c.jti))
        assert [dict(row) for row in stored.mappings()] == rows


def test_a_duplicate_is_sqlalchemys_integrity_error_and_nothing_lands(engine: Engine) -> None:
    with engine.begin() as connection:
        sql_tokens.INSERT_FAMILY.run(connection, FAMILY)
    with pytest.raises(IntegrityError) as raised, engine.begin() as connection:
        sql_tokens.INSERT_FAMILY.run(connection, {**FAMILY, "family_id": "f3"})
        sql_tokens.INSERT_FAMILY.run(connection, FAMILY)  # f1 again: the unit rolls back
    assert isinstance(raised.value.orig, sqlite3.IntegrityError)
    with engine.connect() as connection:
        assert GET_FAMILY.first(connection, {"family_id": "f3"}) is None


def test_a_held_lock_is_the_operational_error_the_worker_retries(
    engine: Engine, tmp_path: Path
) -> None:
    with sqlite3.connect(tmp_path / "idp.db", isolation_level=None) as other:
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(OperationalError) as raised, engine.begin() as connection:
                connection.exec_driver_sql("PRAGMA busy_timeout=0")
                sql_tokens.INSERT_FAMILY.run(connection, FAMILY)
        finally:
            other.execute("ROLLBACK")
    assert _locked(raised.value)
