"""Clients that authenticate with keys (RFC 7523 private_key_jwt), the table of client
assertion ``jti``s already used, and pushed authorization requests (RFC 9126).

``clients.jwks`` / ``clients.jwks_uri`` hold the client's public keys (RFC 7591 §2);
``require_par`` and ``require_signed_request_object`` are the per-client RFC 9126 §6
and RFC 9101 §10.5 metadata. ``used_once`` remembers each assertion's ``jti`` (as a
digest) until the assertion expires, so it is accepted once (RFC 7523 §3 item 7).
``pushed_requests`` holds each request pushed to /par until /authorize takes it (once)
or it expires. Existing clients keep their method; nothing is copied.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("clients", sa.Column("jwks", sa.Text(), nullable=True))
    op.add_column("clients", sa.Column("jwks_uri", sa.Text(), nullable=True))
    for name in ("require_par", "require_signed_request_object"):
        op.add_column(
            "clients",
            sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.false()),
        )
    op.create_table(
        "used_once",
        sa.Column("use_key", sa.String(255), primary_key=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_used_once_expires_at", "used_once", ["expires_at"])
    op.create_table(
        "pushed_requests",
        sa.Column("request_hash", sa.String(255), primary_key=True),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_pushed_requests_expires_at", "pushed_requests", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_pushed_requests_expires_at", table_name="pushed_requests")
    op.drop_table("pushed_requests")
    op.drop_index("ix_used_once_expires_at", table_name="used_once")
    op.drop_table("used_once")
    with op.batch_alter_table("clients") as batch:
        for name in ("require_signed_request_object", "require_par", "jwks_uri", "jwks"):
            batch.drop_column(name)
