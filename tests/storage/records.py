"""Small factories for the records the storage tests write."""

from __future__ import annotations

from typing import Any

from tollhouse.models import (
    AccessTokenRecord,
    AuthorizationCode,
    Client,
    Interaction,
    RefreshToken,
    Revocation,
    Session,
    SigningKey,
    TokenFamily,
    User,
)

NOW = 1_800_000_000


def client(client_id: str = "client-1", *, name: str | None = None, **extra: Any) -> Client:
    fields: dict[str, Any] = {
        "client_id": client_id,
        "name": name or f"App {client_id}",
        "redirect_uris": ("https://app.example/cb", "http://127.0.0.1/cb"),
        "grant_types": ("authorization_code", "refresh_token"),
        "token_endpoint_auth_method": "client_secret_basic",
        "created_at": NOW,
        "secret_hash": "$argon2id$secret",
        "scopes": ("openid", "read"),
        "access_token_ttl": 600,
        "refresh_token_ttl": 86_400,
        "refresh_token_absolute_ttl": 30 * 86_400,
        "introspect_audiences": ("https://api.example", "https://billing.example"),
        "allowed_cors_origins": ("https://spa.example",),
    }
    fields.update(extra)
    return Client(**fields)


def user(username: str = "alice", *, user_id: str | None = None, **extra: Any) -> User:
    fields: dict[str, Any] = {
        "user_id": user_id or f"sub-{username}",
        "username": username,
        "password_hash": "$argon2id$password",
        "created_at": NOW,
        "email": f"{username}@example.com",
    }
    fields.update(extra)
    return User(**fields)


def code(
    code_hash: str = "code-hash-1",
    *,
    client_id: str = "client-1",
    user_id: str = "sub-alice",
    expires_at: int = NOW + 60,
    **extra: Any,
) -> AuthorizationCode:
    fields: dict[str, Any] = {
        "code_hash": code_hash,
        "client_id": client_id,
        "user_id": user_id,
        "redirect_uri": "https://app.example/cb",
        "scopes": ("openid", "read"),
        "audience": "https://api.example",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        "created_at": NOW,
        "expires_at": expires_at,
        "auth_time": NOW - 5,
        "session_id": "session-1",
        "nonce": "n-0S6_WzA2Mj",
    }
    fields.update(extra)
    return AuthorizationCode(**fields)


def session(
    session_hash: str = "session-hash-1",
    *,
    user_id: str = "sub-alice",
    expires_at: int = NOW + 3600,
    **extra: Any,
) -> Session:
    fields: dict[str, Any] = {
        "session_hash": session_hash,
        "user_id": user_id,
        "auth_time": NOW,
        "created_at": NOW,
        "expires_at": expires_at,
    }
    fields.update(extra)
    return Session(**fields)


def interaction(
    interaction_hash: str = "interaction-hash-1", *, expires_at: int = NOW + 600
) -> Interaction:
    return Interaction(
        interaction_hash=interaction_hash,
        csrf_hash="csrf-hash-1",
        client_id="client-1",
        request={
            "response_type": "code",
            "scope": ["openid", "read"],
            "state": "xyz é ✓",
            "max_age": 300,
            "claims": {"id_token": {"email": None}},
        },
        created_at=NOW,
        expires_at=expires_at,
    )


def key(kid: str = "key-1", *, created_at: int = NOW, status: str = "active") -> SigningKey:
    return SigningKey(
        kid=kid,
        alg="ES256",
        public_jwk={"kty": "EC", "crv": "P-256", "x": "f83O", "y": "x_FE", "kid": kid},
        private_ciphertext=bytes(range(256)),
        created_at=created_at,
        status=status,
    )


def revocation(
    jti: str = "jti-1",
    *,
    expires_at: int = NOW + 900,
    revoked_at: int = NOW,
    reason: str = "revoked",
) -> Revocation:
    return Revocation(jti=jti, expires_at=expires_at, revoked_at=revoked_at, reason=reason)


def family(
    family_id: str = "family-1",
    *,
    client_id: str = "client-1",
    subject: str = "sub-alice",
    created_at: int = NOW,
    expires_at: int = NOW + 30 * 86_400,
    **extra: Any,
) -> TokenFamily:
    return TokenFamily(
        family_id=family_id,
        client_id=client_id,
        subject=subject,
        created_at=created_at,
        expires_at=expires_at,
        **extra,
    )


def refresh_token(
    token_hash: str = "refresh-hash-1",
    *,
    family_id: str = "family-1",
    expires_at: int = NOW + 86_400,
    **extra: Any,
) -> RefreshToken:
    fields: dict[str, Any] = {
        "token_hash": token_hash,
        "family_id": family_id,
        "client_id": "client-1",
        "subject": "sub-alice",
        "scopes": ("openid", "read", "offline_access"),
        "audience": "https://api.example",
        "auth_time": NOW - 5,
        "created_at": NOW,
        "expires_at": expires_at,
    }
    fields.update(extra)
    return RefreshToken(**fields)


def access_token(
    jti: str = "at-1",
    *,
    client_id: str = "client-1",
    subject: str = "sub-alice",
    family_id: str | None = "family-1",
    expires_at: int = NOW + 600,
    issued_at: int = NOW,
) -> AccessTokenRecord:
    return AccessTokenRecord(
        jti=jti,
        client_id=client_id,
        subject=subject,
        expires_at=expires_at,
        issued_at=issued_at,
        family_id=family_id,
    )
