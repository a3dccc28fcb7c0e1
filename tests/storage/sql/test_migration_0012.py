"""Migration 0012: the tables purged all day get per-table autovacuum settings on
PostgreSQL (and nothing changes on SQLite); the migration goes down again."""

from __future__ import annotations

from sqlalchemy import Connection, text

from tests.storage.conftest import PostgresServer
from tests.storage.sql.test_migration_0002 import fresh_url, move_to
from tollhouse.storage.sql.migrate import migrate, run_locked

__all__ = ["fresh_url"]

CHURN = ("access_tokens", "refresh_tokens", "revocations", "authorization_codes")


async def reloptions(url: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}

    def work(connection: Connection) -> None:
        rows = connection.execute(
            text("SELECT relname, reloptions FROM pg_class WHERE relname = ANY(:names)"),
            {"names": list(CHURN)},
        )
        found.update({name: list(options or []) for name, options in rows})

    await run_locked(url, work)
    return found


async def test_churn_tables_are_vacuumed_after_a_small_share_of_dead_rows(
    postgres: PostgresServer,
) -> None:
    url = await postgres.create_database()
    await migrate(url)
    options = await reloptions(url)
    assert set(options) == set(CHURN)
    for table, settings in options.items():
        assert "autovacuum_vacuum_scale_factor=0.02" in settings, table
        assert "autovacuum_vacuum_cost_limit=2000" in settings, table

    await move_to(url, "0011", down=True)
    assert all(settings == [] for settings in (await reloptions(url)).values())


async def test_the_migration_goes_down_and_up_again(fresh_url: str) -> None:
    await migrate(fresh_url)
    await move_to(fresh_url, "0011", down=True)
    await migrate(fresh_url)
