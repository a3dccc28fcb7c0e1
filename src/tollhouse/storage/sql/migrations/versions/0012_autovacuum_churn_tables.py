"""Autovacuum settings for the tables whose rows are inserted and purged all day.

PostgreSQL's defaults vacuum a table once a fifth of its rows are dead and throttle the
vacuum to a trickle. A token table of millions of rows, a purge deleting the expired
ones in batches and grants inserting new ones then grows on disk: new rows go to fresh
pages because the freed ones are not yet marked reusable. Vacuuming these tables after
a small share of dead rows, with a higher cost budget, keeps their size flat (the
PostgreSQL manual, "Routine Vacuuming", recommends per-table settings for such tables).
SQLite reuses freed pages on its own: nothing to do there.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHURN_TABLES = (
    "access_tokens",
    "refresh_tokens",
    "token_families",
    "authorization_codes",
    "revocations",
    "used_once",
    "pushed_requests",
    "device_authorizations",
    "sessions",
    "session_clients",
    "interactions",
)
SETTINGS = {
    "autovacuum_vacuum_scale_factor": "0.02",
    "autovacuum_vacuum_threshold": "1000",
    "autovacuum_vacuum_insert_scale_factor": "0.05",
    "autovacuum_analyze_scale_factor": "0.05",
    "autovacuum_vacuum_cost_limit": "2000",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    options = ", ".join(f"{name} = {value}" for name, value in SETTINGS.items())
    for table in CHURN_TABLES:
        op.execute(f"ALTER TABLE {table} SET ({options})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    names = ", ".join(SETTINGS)
    for table in CHURN_TABLES:
        op.execute(f"ALTER TABLE {table} RESET ({names})")
