"""RFC 9449 DPoP: clients' ``dpop_bound_access_tokens`` (every token request needs a
proof), the key thumbprint an authorization code is bound to (``dpop_jkt`` at
/authorize, §10), and the key a public client's refresh token family is bound to (§5).

Existing clients, codes and families stay unbound.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "clients",
        sa.Column(
            "dpop_bound_access_tokens", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )
    op.add_column("authorization_codes", sa.Column("dpop_jkt", sa.String(64), nullable=True))
    op.add_column("token_families", sa.Column("dpop_jkt", sa.String(64), nullable=True))


def downgrade() -> None:
    for table, column in (
        ("token_families", "dpop_jkt"),
        ("authorization_codes", "dpop_jkt"),
        ("clients", "dpop_bound_access_tokens"),
    ):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
