"""The SQL tables behind :class:`~tollhouse.storage.sql.SqlStorage`.

Written with SQLAlchemy Core. ``migrations/versions/`` creates exactly these tables
(a contract test compares the migrated database with this ``MetaData``), so a change
here needs a new migration.

Conventions: epoch seconds are ``BigInteger``; tuples of strings and JSON objects are
JSON text (portable across SQLite and PostgreSQL, and the adapter never queries inside
them); bearer secrets appear only as hashes, private keys only as ciphertext.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Identity,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

from tollhouse.storage.sql.schema_base import ID
from tollhouse.storage.sql.schema_base import metadata as metadata
from tollhouse.storage.sql.schema_sign_in import interactions as interactions
from tollhouse.storage.sql.schema_sign_in import user_passkeys as user_passkeys
from tollhouse.storage.sql.schema_sign_in import user_recovery_codes as user_recovery_codes
from tollhouse.storage.sql.schema_sign_in import user_totp as user_totp

clients = Table(
    "clients",
    metadata,
    Column("client_id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("redirect_uris", Text, nullable=False),
    Column("grant_types", Text, nullable=False),
    Column("token_endpoint_auth_method", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("secret_hash", Text, nullable=True),
    Column("scopes", Text, nullable=True),
    Column("access_token_ttl", Integer, nullable=True),
    Column("refresh_token_ttl", Integer, nullable=True),
    Column("refresh_token_absolute_ttl", Integer, nullable=True),
    Column("introspect_audiences", Text, nullable=False),
    Column("post_logout_redirect_uris", Text, nullable=False),
    Column("backchannel_logout_uri", Text, nullable=True),
    Column("id_token_signed_response_alg", String(16), nullable=True),
    Column("subject_type", String(16), nullable=False),
    Column("previous_secret_hash", Text, nullable=True),
    Column("previous_secret_expires_at", BigInteger, nullable=True),
    Column("allowed_cors_origins", Text, nullable=False, server_default=text("'[]'")),
    Column("self_registered", Boolean, nullable=False, server_default=false()),
    Column("jwks", Text, nullable=True),
    Column("jwks_uri", Text, nullable=True),
    Column("require_par", Boolean, nullable=False, server_default=false()),
    Column("require_signed_request_object", Boolean, nullable=False, server_default=false()),
    Column("dpop_bound_access_tokens", Boolean, nullable=False, server_default=false()),
    Column("require_mfa", Boolean, nullable=False, server_default=false()),
    Column("require_passkey", Boolean, nullable=False, server_default=false()),
    Column("tls_client_auth_kind", String(16), nullable=True),
    Column("tls_client_auth_name", Text, nullable=True),
)

users = Table(
    "users",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("username", ID, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("email", Text, nullable=True),
    Column("name", Text, nullable=True),
    Column("email_verified", Boolean, nullable=False),
)

apis = Table(
    "apis",
    metadata,
    Column("identifier", ID, primary_key=True),
    Column("name", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

api_scopes = Table(
    "api_scopes",
    metadata,
    # The primary key is the scope alone: a scope name belongs to exactly one API.
    Column("scope", ID, primary_key=True),
    Column(
        "api_identifier",
        ID,
        ForeignKey("apis.identifier", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("position", Integer, nullable=False),
    Column("description", Text, nullable=True),
)

change_counters = Table(
    "change_counters",
    metadata,
    # One row per watched area ("registry": clients and APIs), raised by every write
    # to it in the same transaction; caches compare it to drop what they hold.
    Column("name", ID, primary_key=True),
    Column("value", BigInteger, nullable=False),
)

authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("code_hash", ID, primary_key=True),
    Column(
        "client_id",
        ID,
        ForeignKey("clients.client_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column(
        "user_id",
        ID,
        ForeignKey("users.user_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("redirect_uri", Text, nullable=False),
    Column("scopes", Text, nullable=False),
    Column("audience", Text, nullable=False),
    Column("code_challenge", Text, nullable=True),
    Column("code_challenge_method", String(16), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
    Column("auth_time", BigInteger, nullable=False),
    Column("session_id", ID, nullable=True),
    Column("nonce", Text, nullable=True),
    Column("used_at", BigInteger, nullable=True),
    Column("issued_jti", ID, nullable=True),
    Column("issued_exp", BigInteger, nullable=True),
    # No foreign key: the family may be purged while the used code is still kept.
    Column("family_id", ID, nullable=True),
    # How the user signed in (JSON list of RFC 8176 names), for the ID Token.
    Column("amr", Text, nullable=False, server_default=text("'[]'")),
    Column("acr", Text, nullable=True),
    # RFC 9449 §10: the DPoP key thumbprint the code exchange must prove.
    Column("dpop_jkt", String(64), nullable=True),
)

device_authorizations = Table(
    "device_authorizations",
    metadata,
    Column("device_code_hash", ID, primary_key=True),
    Column("user_code_hash", ID, nullable=False, unique=True),
    Column(
        "client_id",
        ID,
        ForeignKey("clients.client_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("scopes", Text, nullable=False),
    Column("audience", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
    Column("interval", Integer, nullable=False),
    Column("ip", String(64), nullable=True),
    Column("user_agent", Text, nullable=True),
    Column("status", String(16), nullable=False),
    Column("user_id", ID, ForeignKey("users.user_id", ondelete="CASCADE"), nullable=True),
    Column("decided_at", BigInteger, nullable=True),
    Column("last_polled_at", BigInteger, nullable=True),
)

consents = Table(
    "consents",
    metadata,
    Column(
        "user_id",
        ID,
        ForeignKey("users.user_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "client_id",
        ID,
        ForeignKey("clients.client_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("scopes", Text, nullable=False),
    Column("granted_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("user_id", "client_id"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("session_hash", ID, primary_key=True),
    Column(
        "user_id",
        ID,
        ForeignKey("users.user_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("auth_time", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
    # The public session id; NULL when the session has none (the model's ""), so the
    # uniqueness holds only among real ones.
    Column("sid", ID, nullable=True, unique=True),
    Column("last_active_at", BigInteger, nullable=False),
    Column("amr", Text, nullable=False),
    Column("acr", Text, nullable=True),
)

session_clients = Table(
    "session_clients",
    metadata,
    # Deleting or purging a session (or its user) takes these rows with it.
    Column(
        "sid",
        ID,
        ForeignKey("sessions.sid", ondelete="CASCADE"),
        nullable=False,
    ),
    # No foreign key: a client deleted meanwhile is skipped at logout.
    Column("client_id", ID, nullable=False),
    PrimaryKeyConstraint("sid", "client_id"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", ID, primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("public_jwk", Text, nullable=False),
    Column("private_ciphertext", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("retired_at", BigInteger, nullable=True),
    Column("activates_at", BigInteger, nullable=True),
    Column("generation", Integer, nullable=True),
    # One winner when instances rotate at once: both insert the next generation.
    UniqueConstraint("alg", "generation", name="uq_signing_keys_alg_generation"),
)

used_once = Table(
    # Client assertion jtis (RFC 7523 §3): the key is a digest, never the value itself.
    "used_once",
    metadata,
    Column("use_key", ID, primary_key=True),
    Column("expires_at", BigInteger, nullable=False, index=True),
)

pushed_requests = Table(
    # RFC 9126: keyed by the fingerprint of the request_uri, never the value itself.
    "pushed_requests",
    metadata,
    Column("request_hash", ID, primary_key=True),
    Column("client_id", ID, nullable=False),
    Column("params", Text, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
)

revocations = Table(
    "revocations",
    metadata,
    # The feed's cursor. Assigned by the database and never reused, also after the
    # newest rows were purged: AUTOINCREMENT on SQLite, an identity on PostgreSQL.
    Column(
        "seq",
        BigInteger().with_variant(Integer, "sqlite"),
        Identity(),
        primary_key=True,
    ),
    Column("jti", ID, nullable=False, unique=True),
    Column("expires_at", BigInteger, nullable=False, index=True),
    Column("revoked_at", BigInteger, nullable=False, index=True),
    Column("reason", String(64), nullable=False),
    sqlite_autoincrement=True,
)

token_families = Table(
    "token_families",
    metadata,
    Column("family_id", ID, primary_key=True),
    Column(
        "client_id",
        ID,
        ForeignKey("clients.client_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # No foreign key: the subject is a user, or the client itself (client_credentials).
    Column("subject", ID, nullable=False, index=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
    Column("revoked_at", BigInteger, nullable=True),
    Column("revoked_reason", String(64), nullable=True),
    # No foreign key: an offline family outlives the browser session it began in.
    Column("sid", ID, nullable=True, index=True),
    Column("offline", Boolean, nullable=False),
    # The authorization's amr and acr, for the ID Token of every refresh.
    Column("amr", Text, nullable=False, server_default=text("'[]'")),
    Column("acr", Text, nullable=True),
    # RFC 9449 §5: a public client's refresh tokens are bound to this DPoP key.
    Column("dpop_jkt", String(64), nullable=True),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", ID, primary_key=True),
    Column(
        "family_id",
        ID,
        ForeignKey("token_families.family_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("client_id", ID, nullable=False),
    Column("subject", ID, nullable=False),
    Column("scopes", Text, nullable=False),
    Column("audience", Text, nullable=False),
    Column("auth_time", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
    Column("used_at", BigInteger, nullable=True),
    Column("replaced_by", ID, nullable=True),
)

access_tokens = Table(
    "access_tokens",
    metadata,
    # No foreign keys: the record of an issued JWT outlives its client, user or
    # family, so the token can still be found and revoked until it expires.
    Column("jti", ID, primary_key=True),
    Column("client_id", ID, nullable=False, index=True),
    Column("subject", ID, nullable=False, index=True),
    Column("family_id", ID, nullable=True, index=True),
    Column("expires_at", BigInteger, nullable=False, index=True),
    Column("issued_at", BigInteger, nullable=False),
)

initial_access_tokens = Table(
    "initial_access_tokens",
    metadata,
    # RFC 7591 §3 initial access tokens: fingerprint, expiry and uses left.
    Column("token_hash", ID, primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
    Column("uses_left", Integer, nullable=False),
)

admin_tokens = Table(
    "admin_tokens",
    metadata,
    # Bearer tokens of the interaction API (tollhouse admin-token create): fingerprints.
    Column("token_id", ID, primary_key=True),
    Column("token_hash", ID, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
)

registration_access_tokens = Table(
    "registration_access_tokens",
    metadata,
    # RFC 7592 registration access tokens: one per dynamically registered client.
    Column(
        "client_id",
        ID,
        ForeignKey("clients.client_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("token_hash", ID, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
