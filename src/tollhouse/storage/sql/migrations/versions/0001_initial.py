"""Initial schema: clients, users, APIs, codes, consents, sessions and the clients
each served, keys, revocations, refresh token families, refresh tokens and access
token records.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand as a frozen snapshot (it must not import ``schema``, which moves on);
a contract test checks that the migrated database matches ``schema.metadata``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(255)


def _epoch(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("client_id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("redirect_uris", sa.Text(), nullable=False),
        sa.Column("grant_types", sa.Text(), nullable=False),
        sa.Column("token_endpoint_auth_method", sa.String(64), nullable=False),
        _epoch("created_at"),
        sa.Column("secret_hash", sa.Text(), nullable=True),
        sa.Column("scopes", sa.Text(), nullable=True),
        sa.Column("access_token_ttl", sa.Integer(), nullable=True),
        sa.Column("refresh_token_ttl", sa.Integer(), nullable=True),
        sa.Column("refresh_token_absolute_ttl", sa.Integer(), nullable=True),
        sa.Column("introspect_audiences", sa.Text(), nullable=False),
        sa.Column("post_logout_redirect_uris", sa.Text(), nullable=False),
        sa.Column("backchannel_logout_uri", sa.Text(), nullable=True),
        sa.Column("id_token_signed_response_alg", sa.String(16), nullable=True),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("previous_secret_hash", sa.Text(), nullable=True),
        _epoch("previous_secret_expires_at", nullable=True),
        sa.PrimaryKeyConstraint("client_id", name="pk_clients"),
    )
    op.create_table(
        "users",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("username", ID, nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        _epoch("created_at"),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("email_verified", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_table(
        "apis",
        sa.Column("identifier", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        _epoch("created_at"),
        sa.PrimaryKeyConstraint("identifier", name="pk_apis"),
    )
    op.create_table(
        "api_scopes",
        sa.Column("scope", ID, nullable=False),
        sa.Column("api_identifier", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", name="pk_api_scopes"),
        sa.ForeignKeyConstraint(
            ["api_identifier"],
            ["apis.identifier"],
            name="fk_api_scopes_api_identifier_apis",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_api_scopes_api_identifier", "api_scopes", ["api_identifier"])
    op.create_table(
        "authorization_codes",
        sa.Column("code_hash", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("audience", sa.Text(), nullable=False),
        sa.Column("code_challenge", sa.Text(), nullable=True),
        sa.Column("code_challenge_method", sa.String(16), nullable=True),
        _epoch("created_at"),
        _epoch("expires_at"),
        _epoch("auth_time"),
        sa.Column("session_id", ID, nullable=True),
        sa.Column("nonce", sa.Text(), nullable=True),
        _epoch("used_at", nullable=True),
        sa.Column("issued_jti", ID, nullable=True),
        _epoch("issued_exp", nullable=True),
        sa.Column("family_id", ID, nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name="pk_authorization_codes"),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.client_id"],
            name="fk_authorization_codes_client_id_clients",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name="fk_authorization_codes_user_id_users",
            ondelete="CASCADE",
        ),
    )
    for column in ("client_id", "user_id", "expires_at"):
        op.create_index(f"ix_authorization_codes_{column}", "authorization_codes", [column])
    op.create_table(
        "consents",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        _epoch("granted_at"),
        sa.PrimaryKeyConstraint("user_id", "client_id", name="pk_consents"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name="fk_consents_user_id_users",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.client_id"],
            name="fk_consents_client_id_clients",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_consents_client_id", "consents", ["client_id"])
    op.create_table(
        "sessions",
        sa.Column("session_hash", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        _epoch("auth_time"),
        _epoch("created_at"),
        _epoch("expires_at"),
        sa.Column("sid", ID, nullable=True),
        _epoch("last_active_at"),
        sa.Column("amr", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("session_hash", name="pk_sessions"),
        sa.UniqueConstraint("sid", name="uq_sessions_sid"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name="fk_sessions_user_id_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])
    op.create_table(
        "session_clients",
        sa.Column("sid", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("sid", "client_id", name="pk_session_clients"),
        sa.ForeignKeyConstraint(
            ["sid"],
            ["sessions.sid"],
            name="fk_session_clients_sid_sessions",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "interactions",
        sa.Column("interaction_hash", ID, nullable=False),
        sa.Column("csrf_hash", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        _epoch("created_at"),
        _epoch("expires_at"),
        sa.PrimaryKeyConstraint("interaction_hash", name="pk_interactions"),
    )
    op.create_index("ix_interactions_expires_at", "interactions", ["expires_at"])
    op.create_table(
        "signing_keys",
        sa.Column("kid", ID, nullable=False),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("public_jwk", sa.Text(), nullable=False),
        sa.Column("private_ciphertext", sa.LargeBinary(), nullable=False),
        _epoch("created_at"),
        sa.Column("status", sa.String(16), nullable=False),
        _epoch("retired_at", nullable=True),
        _epoch("activates_at", nullable=True),
        sa.Column("generation", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("kid", name="pk_signing_keys"),
        sa.UniqueConstraint("alg", "generation", name="uq_signing_keys_alg_generation"),
    )
    op.create_table(
        "revocations",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            nullable=False,
        ),
        sa.Column("jti", ID, nullable=False),
        _epoch("expires_at"),
        _epoch("revoked_at"),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_revocations"),
        sa.UniqueConstraint("jti", name="uq_revocations_jti"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_revocations_expires_at", "revocations", ["expires_at"])
    op.create_index("ix_revocations_revoked_at", "revocations", ["revoked_at"])
    op.create_table(
        "token_families",
        sa.Column("family_id", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("subject", ID, nullable=False),
        _epoch("created_at"),
        _epoch("expires_at"),
        _epoch("revoked_at", nullable=True),
        sa.Column("revoked_reason", sa.String(64), nullable=True),
        sa.Column("sid", ID, nullable=True),
        sa.Column("offline", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("family_id", name="pk_token_families"),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.client_id"],
            name="fk_token_families_client_id_clients",
            ondelete="CASCADE",
        ),
    )
    for column in ("client_id", "subject", "expires_at", "sid"):
        op.create_index(f"ix_token_families_{column}", "token_families", [column])
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", ID, nullable=False),
        sa.Column("family_id", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("subject", ID, nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("audience", sa.Text(), nullable=False),
        _epoch("auth_time", nullable=True),
        _epoch("created_at"),
        _epoch("expires_at"),
        _epoch("used_at", nullable=True),
        sa.Column("replaced_by", ID, nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_refresh_tokens"),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["token_families.family_id"],
            name="fk_refresh_tokens_family_id_token_families",
            ondelete="CASCADE",
        ),
    )
    for column in ("family_id", "expires_at"):
        op.create_index(f"ix_refresh_tokens_{column}", "refresh_tokens", [column])
    op.create_table(
        "access_tokens",
        sa.Column("jti", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("subject", ID, nullable=False),
        sa.Column("family_id", ID, nullable=True),
        _epoch("expires_at"),
        _epoch("issued_at"),
        sa.PrimaryKeyConstraint("jti", name="pk_access_tokens"),
    )
    for column in ("client_id", "subject", "family_id", "expires_at"):
        op.create_index(f"ix_access_tokens_{column}", "access_tokens", [column])
    op.create_table(
        "initial_access_tokens",
        sa.Column("token_hash", ID, nullable=False),
        _epoch("created_at"),
        _epoch("expires_at"),
        sa.Column("uses_left", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_initial_access_tokens"),
    )
    op.create_index("ix_initial_access_tokens_expires_at", "initial_access_tokens", ["expires_at"])
    op.create_table(
        "admin_tokens",
        sa.Column("token_id", ID, nullable=False),
        sa.Column("token_hash", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        _epoch("created_at"),
        _epoch("expires_at"),
        sa.PrimaryKeyConstraint("token_id", name="pk_admin_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_admin_tokens_token_hash"),
    )
    op.create_index("ix_admin_tokens_expires_at", "admin_tokens", ["expires_at"])
    op.create_table(
        "registration_access_tokens",
        sa.Column("client_id", ID, nullable=False),
        sa.Column("token_hash", ID, nullable=False),
        _epoch("created_at"),
        sa.PrimaryKeyConstraint("client_id", name="pk_registration_access_tokens"),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.client_id"],
            name="fk_registration_access_tokens_client_id_clients",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    for table in (
        "admin_tokens",
        "registration_access_tokens",
        "initial_access_tokens",
        "access_tokens",
        "refresh_tokens",
        "token_families",
        "revocations",
        "signing_keys",
        "interactions",
        "session_clients",
        "sessions",
        "consents",
        "authorization_codes",
        "api_scopes",
        "apis",
        "users",
        "clients",
    ):
        op.drop_table(table)
