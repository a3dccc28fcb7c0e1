"""The tables of signing in: pending interactions and users' second factors (part of
the schema, schema.py)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, LargeBinary, String, Table, Text

from tollhouse.storage.sql.schema_base import ID, metadata

# A user's TOTP authenticator (RFC 6238): the secret sealed under the master key.
user_totp = Table(
    "user_totp",
    metadata,
    Column("user_id", ID, ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True),
    Column("sealed_secret", LargeBinary, nullable=False),
    Column("confirmed", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_step", BigInteger, nullable=True),
)

# Single-use recovery codes, as SHA-256 digests.
user_recovery_codes = Table(
    "user_recovery_codes",
    metadata,
    Column("user_id", ID, ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(64), primary_key=True),
)

# WebAuthn credentials (passkeys): public keys and signature counters.
user_passkeys = Table(
    "user_passkeys",
    metadata,
    Column("credential_id", String(1024), primary_key=True),
    Column(
        "user_id", ID, ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("public_key", LargeBinary, nullable=False),
    Column("sign_count", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

interactions = Table(
    "interactions",
    metadata,
    Column("interaction_hash", ID, primary_key=True),
    Column("csrf_hash", ID, nullable=False),
    # No foreign key: a pending request for a client deleted meanwhile simply expires.
    Column("client_id", ID, nullable=False),
    Column("request", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
)
