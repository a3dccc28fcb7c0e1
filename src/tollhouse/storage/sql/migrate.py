"""Alembic upgrades run from code, so ``tollhouse serve`` can migrate at start-up.

The Alembic environment lives in the package (``storage/sql/migrations``) and needs no
``alembic.ini``. The upgrade runs inside one transaction on one connection:

* on PostgreSQL the transaction first takes an advisory lock, so several processes
  starting at once against one database migrate one after another; the later ones
  find the schema at head and do nothing;
* on SQLite the transaction starts with ``BEGIN IMMEDIATE`` (see ``engine``),
  which gives the same serialisation through the database file lock.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from tollhouse.storage.sql.engine import async_url, create_engine

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")

ADVISORY_LOCK_KEY = 0x746F6C6C686F7573
"""``pg_advisory_xact_lock`` key held while migrating (b"tollhous" as an int64)."""


_IN_PROCESS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)
"""One lock per event loop. Alembic keeps the running migration in module globals
(``alembic.context``), so two upgrades interleaved on one loop would swap contexts;
the database locks only order separate connections. For the same reason, threads of
one process must not migrate at the same time (processes may)."""


def _in_process_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _IN_PROCESS.get(loop)
    if lock is None:
        lock = _IN_PROCESS[loop] = asyncio.Lock()
    return lock


def alembic_config(url: str) -> Config:
    """An Alembic ``Config`` for this package's migrations against ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Config values go through configparser interpolation: escape "%" (in passwords).
    config.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    return config


async def run_locked(url: str, work: Callable[[Connection], None]) -> None:
    """Run ``work`` on a sync view of one connection, in one transaction, serialised.

    ``work`` is called through ``AsyncConnection.run_sync``, as Alembic expects.
    """
    async with _in_process_lock():
        engine = create_engine(url, for_migration=True)
        try:
            async with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    # Released with the transaction, also if the process dies mid-way.
                    lock = func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)
                    await connection.execute(select(lock))
                await connection.run_sync(work)
        finally:
            await engine.dispose()


async def migrate(url: str) -> None:
    """Upgrade the database at ``url`` to the newest schema; a no-op when at head.

    Works on a fresh SQLite file (its directory is created), a fresh PostgreSQL
    database, and is safe to call from several processes at once.
    """
    config = alembic_config(url)

    def upgrade(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    await run_locked(url, upgrade)
