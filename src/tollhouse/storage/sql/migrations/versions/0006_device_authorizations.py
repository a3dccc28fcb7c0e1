"""RFC 8628 device authorizations: a device's request waiting for a person at /device.

Both codes appear only as fingerprints. ``status`` is ``pending``, ``approved`` or
``denied``; an approval names the user and stores an authorization code (key
``device:<device_code_hash>``) that the device redeems at /token.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "device_authorizations",
        sa.Column("device_code_hash", ID, nullable=False),
        sa.Column("user_code_hash", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("audience", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("last_polled_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("device_code_hash", name="pk_device_authorizations"),
        sa.UniqueConstraint("user_code_hash", name="uq_device_authorizations_user_code_hash"),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.client_id"],
            name="fk_device_authorizations_client_id_clients",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name="fk_device_authorizations_user_id_users",
            ondelete="CASCADE",
        ),
    )
    for column in ("client_id", "expires_at"):
        op.create_index(f"ix_device_authorizations_{column}", "device_authorizations", [column])


def downgrade() -> None:
    op.drop_table("device_authorizations")
