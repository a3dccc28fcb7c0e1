"""Databases for the production-size state runs (bench/state.py): a SQLite file, or a
PostgreSQL database named ``bench_state_*`` with Redis database 14, both dropped after."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from idp import ours

REDIS = os.environ.get("TOLLHOUSE_STATE_REDIS", "redis://127.0.0.1:6379/14")
"""Redis database 14, flushed before and after each PostgreSQL run."""


def flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS)
    try:
        client.flushdb()
    finally:
        client.close()


@contextlib.contextmanager
def backend(kind: str, workdir: Path, tag: str = "") -> Iterator[ours.Backend]:
    """A fresh, empty database for one run (migrated later by ``Server.seed``)."""
    if kind == "sqlite":
        yield ours.Backend("SQLite", f"sqlite:///{workdir / 'tollhouse.db'}", None)
        return
    name = f"bench_state{tag}_{secrets.token_hex(4)}"
    admin = ours.POSTGRES_ADMIN.rsplit("/", 1)[0]
    asyncio.run(ours._postgres(ours.POSTGRES_ADMIN, f'CREATE DATABASE "{name}"'))
    flush_redis()
    try:
        yield ours.Backend("PostgreSQL + Redis", f"{admin}/{name}", REDIS)
    finally:
        asyncio.run(
            ours._postgres(ours.POSTGRES_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )
        flush_redis()
