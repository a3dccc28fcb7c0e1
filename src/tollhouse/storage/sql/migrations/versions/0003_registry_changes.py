"""A change counter for clients and APIs, and descriptions for API scopes.

``change_counters`` holds one row per watched area; every write to ``clients``,
``apis`` or ``api_scopes`` raises the ``registry`` row's value in its own transaction,
so each server's in-process cache (storage/hot_cache.py) sees, with one cheap read,
that something changed elsewhere (ADR 0011). ``api_scopes.description`` is the plain
words the consent page shows for a scope (NULL: none given).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    counters = op.create_table(
        "change_counters",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_change_counters"),
    )
    op.bulk_insert(counters, [{"name": "registry", "value": 0}])
    op.add_column("api_scopes", sa.Column("description", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_scopes") as batch:
        batch.drop_column("description")
    op.drop_table("change_counters")
