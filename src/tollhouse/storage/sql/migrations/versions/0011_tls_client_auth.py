"""RFC 8705 §2.1 ``tls_client_auth``: the name a client's TLS certificate must carry
(which kind, ``subject_dn`` or a ``san_*``, and its value). Existing clients keep
their methods; ``self_signed_tls_client_auth`` uses the ``jwks`` column of 0007.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("clients", sa.Column("tls_client_auth_kind", sa.String(16), nullable=True))
    op.add_column("clients", sa.Column("tls_client_auth_name", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("tls_client_auth_name")
        batch.drop_column("tls_client_auth_kind")
