"""Standard claims released per scope (OpenID Connect Core §5.1, §5.4)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tollhouse.models import User

#: OIDC Core §5.4: the claims each scope value requests (those we hold).
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": ("name", "preferred_username", "updated_at"),
    "email": ("email", "email_verified"),
}

SUPPORTED_CLAIMS = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "azp",
    "sid",
    "amr",
    "acr",
    *SCOPE_CLAIMS["profile"],
    *SCOPE_CLAIMS["email"],
)

#: Plain words for the consent page.
SCOPE_DESCRIPTIONS: dict[str, str] = {
    "openid": "Know who you are (your account identifier)",
    "profile": "See your name and username",
    "email": "See your email address",
    "offline_access": "Keep access when you are not signed in",
}


def user_claims(user: User, scopes: Iterable[str]) -> dict[str, Any]:
    """The claims of ``user`` that ``scopes`` ask for; absent values are omitted."""
    wanted = {claim for scope in scopes for claim in SCOPE_CLAIMS.get(scope, ())}
    values: dict[str, Any] = {
        "name": user.name,
        "preferred_username": user.username,
        "updated_at": user.created_at,
        "email": user.email,
        "email_verified": user.email_verified if user.email else None,
    }
    return {k: v for k, v in values.items() if k in wanted and v is not None}
