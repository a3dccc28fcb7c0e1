"""The feed's re-read window (``revocations_between``) is found through the
``revoked_at`` index, not by walking the whole revocation list in ``seq`` order: every
``/revocations`` poll runs it, and a mass revocation fills the table."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.dialects import sqlite

from tollhouse.models import Revocation
from tollhouse.storage.sql import open_storage
from tollhouse.storage.sql.tokens import revocation_window

NOW = 1_800_000_000


async def test_the_window_is_read_through_the_revoked_at_index(tmp_path: Path) -> None:
    path = tmp_path / "tollhouse.db"
    storage = await open_storage(f"sqlite:///{path}")
    try:
        for index in range(300):
            revoked = NOW - 3000 + 10 * index
            await storage.revoke(Revocation(f"jti-{index}", NOW + 3600, revoked, "revoked"))
        window = await storage.revocations_between(NOW - 15, NOW, 1000)
    finally:
        await storage.close()
    assert [r.jti for r in window] == ["jti-299"]  # the one revoked at NOW - 10
    statement = revocation_window(NOW - 15, NOW, 1000).compile(
        dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
    )
    connection = sqlite3.connect(path)
    try:
        connection.execute("ANALYZE")
        plan = " / ".join(row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}"))
    finally:
        connection.close()
    assert "USING INDEX ix_revocations_revoked_at" in plan, plan
    assert "SCAN revocations" not in plan, plan
