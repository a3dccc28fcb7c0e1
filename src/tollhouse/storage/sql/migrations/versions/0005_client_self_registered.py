"""Clients' ``self_registered``: registered over HTTP with no operator involved
(``TOLLHOUSE_REGISTRATION=open``, no initial access token). Such a client's redirect
hosts are vouched for by nobody, so the browser is never sent there unasked and
consent is asked every time.

Of the clients from before, those registered over HTTP (they hold a registration
access token) become self-registered: nothing recorded whether an initial access token
was needed, and a client that came through open registration must not stay trusted
by the upgrade. ``tollhouse clients trust ID`` vouches for one. Clients created with
the CLI stay as they were.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "clients",
        sa.Column("self_registered", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    clients = sa.table(
        "clients", sa.column("client_id", sa.String()), sa.column("self_registered", sa.Boolean())
    )
    tokens = sa.table("registration_access_tokens", sa.column("client_id", sa.String()))
    op.execute(
        clients.update()
        .where(clients.c.client_id.in_(sa.select(tokens.c.client_id)))
        .values(self_registered=sa.true())
    )


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("self_registered")
