"""How the user signed in, kept for the ID Tokens: ``amr`` and ``acr`` on authorization
codes and refresh token families, ``acr`` on sessions (which already had ``amr``).

OIDC Core §12.2: an ID Token from a refresh describes the original authentication, so
the family keeps what the code carried from the session. ``amr`` is a JSON list
(``[]`` for rows from before); ``acr`` is NULL when no sign-in asserted one.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AMR_TABLES = ("authorization_codes", "token_families")


def upgrade() -> None:
    for table in _AMR_TABLES:
        op.add_column(
            table, sa.Column("amr", sa.Text(), nullable=False, server_default=sa.text("'[]'"))
        )
    for table in (*_AMR_TABLES, "sessions"):
        op.add_column(table, sa.Column("acr", sa.Text(), nullable=True))


def downgrade() -> None:
    for table in (*_AMR_TABLES, "sessions"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("acr")
            if table in _AMR_TABLES:
                batch.drop_column("amr")
