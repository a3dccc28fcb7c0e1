"""Second factors: a TOTP authenticator per user (its secret sealed under the master
key, the last time step used so no code signs in twice), single-use recovery codes as
digests, WebAuthn credentials (passkeys: public key and signature counter), and
clients' ``require_mfa`` (their users must pass a second factor).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _user_id() -> sa.Column[str]:
    return sa.Column(
        "user_id",
        sa.String(255),
        sa.ForeignKey("users.user_id", ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    op.create_table(
        "user_totp",
        _user_id(),
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "user_recovery_codes",
        _user_id(),
        sa.Column("digest", sa.String(64), primary_key=True),
    )
    op.create_table(
        "user_passkeys",
        sa.Column("credential_id", sa.String(1024), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(255),
            sa.ForeignKey("users.user_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_user_passkeys_user_id", "user_passkeys", ["user_id"])
    op.add_column(
        "clients",
        sa.Column("require_mfa", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("require_mfa")
    op.drop_index("ix_user_passkeys_user_id", table_name="user_passkeys")
    op.drop_table("user_passkeys")
    op.drop_table("user_recovery_codes")
    op.drop_table("user_totp")
