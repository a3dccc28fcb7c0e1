"""Migration 0002 (``amr``/``acr`` on codes, families and sessions) on a database that
already holds rows: they read back with no ``amr`` and no ``acr``, as before, and the
migration goes down again. Runs on a SQLite file and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, insert, text

from tests.storage import records as make
from tests.storage.conftest import PostgresServer
from tests.storage.records import NOW
from tollhouse.storage.sql import rows as sql_rows
from tollhouse.storage.sql.migrate import alembic_config, migrate, run_locked
from tollhouse.storage.sql.schema import users
from tollhouse.storage.sql.storage import open_storage


@pytest.fixture(params=["sqlite", "postgresql"])
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tollhouse.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return await server.create_database()


async def move_to(url: str, revision: str, *, down: bool = False) -> None:
    config = alembic_config(url)

    def work(connection: Connection) -> None:
        config.attributes["connection"] = connection
        if down:
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)

    await run_locked(url, work)


async def test_rows_from_before_read_back_without_amr_or_acr(fresh_url: str) -> None:
    await move_to(fresh_url, "0001")
    # Users have the same columns in 0001 and today (the stores of today also write
    # 0003's change counter, so the rows go in directly).
    await run_locked(fresh_url, insert_user)
    # A client, a code and a family as a server on 0001 wrote them (only its columns).
    rows = [
        ("INSERT INTO clients (client_id, name, redirect_uris, grant_types, "
         "token_endpoint_auth_method, created_at, introspect_audiences, "
         "post_logout_redirect_uris, subject_type) VALUES ('client-1', 'Client', '[]', "
         f"'[]', 'none', {NOW}, '[]', '[]', 'public')"),
        ("INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, "
         "scopes, audience, created_at, expires_at, auth_time) VALUES ('code-hash-1', "
         f"'client-1', 'sub-alice', '', '[]', 'a', {NOW}, {NOW + 60}, {NOW})"),
        ("INSERT INTO token_families (family_id, client_id, subject, created_at, "
         f"expires_at, offline) VALUES ('family-1', 'client-1', 'sub-alice', {NOW}, "
         f"{NOW + 60}, false)"),
    ]  # fmt: skip
    await run_sql(fresh_url, rows)
    await migrate(fresh_url)
    storage = await open_storage(fresh_url, migrate=False)
    try:
        code = await storage.get_code("code-hash-1")
        family = await storage.get_family("family-1")
        assert code is not None and (code.amr, code.acr) == ((), None)
        assert family is not None and (family.amr, family.acr) == ((), None)
        await storage.add_session(make.session(sid="sid-1", acr="urn:example:mfa"))
    finally:
        await storage.close()
    await move_to(fresh_url, "0001", down=True)
    await migrate(fresh_url)


def insert_user(connection: Connection) -> None:
    connection.execute(insert(users).values(sql_rows.user_row(make.user())))


async def run_sql(url: str, statements: list[str]) -> None:
    def work(connection: Connection) -> None:
        for statement in statements:
            connection.execute(text(statement))

    await run_locked(url, work)
