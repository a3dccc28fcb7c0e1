"""Plain records the protocol works on. No persistence logic lives here."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class GrantType(StrEnum):
    AUTHORIZATION_CODE = "authorization_code"
    REFRESH_TOKEN = "refresh_token"
    CLIENT_CREDENTIALS = "client_credentials"


class AuthMethod(StrEnum):
    """RFC 7591 §2 token_endpoint_auth_method values we accept."""

    CLIENT_SECRET_BASIC = "client_secret_basic"
    CLIENT_SECRET_POST = "client_secret_post"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    token_endpoint_auth_method: str
    created_at: int
    secret_hash: str | None = None
    scopes: tuple[str, ...] | None = None
    """None: every scope the server defines (contract, RFC 7591 registration)."""

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == AuthMethod.NONE


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    """The stable, non-guessable subject (``sub``)."""
    username: str
    password_hash: str
    created_at: int
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Api:
    """A resource server tokens are minted for (RFC 8707 resource indicator)."""

    identifier: str
    scopes: tuple[str, ...]
    created_at: int
    name: str | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    code_hash: str
    client_id: str
    user_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    audience: str
    code_challenge: str | None
    code_challenge_method: str | None
    created_at: int
    expires_at: int
    auth_time: int
    session_id: str | None = None
    nonce: str | None = None
    used_at: int | None = None
    issued_jti: str | None = None
    issued_exp: int | None = None


@dataclass(frozen=True, slots=True)
class Consent:
    user_id: str
    client_id: str
    scopes: tuple[str, ...]
    granted_at: int


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser. ``session_hash`` is the fingerprint of the cookie value."""

    session_hash: str
    user_id: str
    auth_time: int
    created_at: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class Interaction:
    """A pending /authorize request waiting for login or consent."""

    interaction_hash: str
    csrf_hash: str
    client_id: str
    request: dict[str, Any]
    created_at: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: str
    public_jwk: dict[str, Any]
    private_ciphertext: bytes
    """AES-256-GCM nonce || ciphertext of the private JWK, AAD = kid."""
    created_at: int
    status: str = "active"
    """``active`` signs and is published; ``retired`` is published only."""
    retired_at: int | None = None


@dataclass(frozen=True, slots=True)
class Revocation:
    jti: str
    expires_at: int
    revoked_at: int
    reason: str = field(default="revoked")
