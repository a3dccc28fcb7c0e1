"""Clients' ``allowed_cors_origins``: origins beyond those of the redirect URIs whose
browser code may call ``/token``, ``/userinfo`` and ``/revoke`` (protocol/cors.py).

A JSON list of origins; ``[]`` for the clients from before.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "clients",
        sa.Column(
            "allowed_cors_origins", sa.Text(), nullable=False, server_default=sa.text("'[]'")
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("allowed_cors_origins")
