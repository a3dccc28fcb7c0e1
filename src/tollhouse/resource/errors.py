"""RFC 6750 §3: the errors a resource server answers, and their ``WWW-Authenticate`` value;
RFC 9470 §3's ``insufficient_user_authentication`` with ``acr_values`` / ``max_age``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

INVALID_REQUEST: Final = "invalid_request"
INVALID_TOKEN: Final = "invalid_token"
INSUFFICIENT_SCOPE: Final = "insufficient_scope"
INVALID_DPOP_PROOF: Final = "invalid_dpop_proof"
"""RFC 9449 §7.1: the DPoP proof of a request with a DPoP-bound token is refused."""
INSUFFICIENT_USER_AUTHENTICATION: Final = "insufficient_user_authentication"

_STATUS: Final = {
    INVALID_REQUEST: 400,
    INVALID_TOKEN: 401,
    INSUFFICIENT_SCOPE: 403,
    INVALID_DPOP_PROOF: 401,
    INSUFFICIENT_USER_AUTHENTICATION: 401,
}
_ALLOWED: Final = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\"}


def _quoted(text: str) -> str:
    """RFC 6750 §3: attribute values are %x20-21 / %x23-5B / %x5D-7E (no quote, no backslash)."""
    # Every refusal builds one: the usual text (a constant) is let through whole, not
    # walked character by character. isprintable() on ASCII is exactly %x20-7E.
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return "".join(ch if ch in _ALLOWED else "?" for ch in text)


class TokenError(Exception):
    """A bearer token was missing, malformed, invalid, or lacked a scope.

    ``error`` is ``invalid_token`` (401), ``insufficient_scope`` (403) or
    ``invalid_request`` (400); ``www_authenticate`` is the RFC 6750 §3 header value to
    answer with. A request that carried no token at all (``missing``) gets a challenge
    without an error code (RFC 6750 §3.1), still with status 401. ``check`` names the
    validation rule that refused the token (a :class:`tollhouse.resource.at_jwt.Rule`
    value), or is empty when no rule did (no token, a missing scope).
    """

    def __init__(
        self,
        error: str,
        description: str,
        *,
        scope: Iterable[str] = (),
        missing: bool = False,
        realm: str = "",
        check: str = "",
        acr_values: Iterable[str] = (),
        max_age: int | None = None,
    ) -> None:
        if error not in _STATUS:
            raise ValueError(f"not an RFC 6750 error code: {error!r}")
        self.error = error
        self.status_code: int = _STATUS[error]
        self.description = _quoted(description)
        self.scope = tuple(scope)
        self.missing = missing
        self.realm = realm
        self.check = check
        self.dpop_algs: tuple[str, ...] | None = None
        """Set when the challenge is RFC 9449 §7.1's ``DPoP`` scheme (its ``algs``)."""
        self.acr_values = tuple(acr_values)
        self.max_age = max_age
        super().__init__(f"{error}: {self.description}")

    @property
    def www_authenticate(self) -> str:
        """``Bearer realm="…", error="…", error_description="…"`` (plus ``scope`` if any)."""
        parts = [f'realm="{_quoted(self.realm)}"'] if self.realm else []
        if not self.missing:
            parts.append(f'error="{self.error}"')
            parts.append(f'error_description="{self.description}"')
            if self.scope:
                parts.append(f'scope="{_quoted(" ".join(self.scope))}"')
            if self.acr_values:
                parts.append(f'acr_values="{_quoted(" ".join(self.acr_values))}"')
            if self.max_age is not None:
                parts.append(f'max_age="{self.max_age}"')
        if self.dpop_algs is not None:
            parts.insert(0, f'algs="{" ".join(self.dpop_algs)}"')
            return "DPoP " + ", ".join(parts)
        return "Bearer " + ", ".join(parts) if parts else "Bearer"

    def to_dict(self) -> dict[str, str]:
        """A JSON body for the response (empty when no token was sent)."""
        if self.missing:
            return {}
        return {"error": self.error, "error_description": self.description}


def missing_token(realm: str = "") -> TokenError:
    """RFC 6750 §3.1: no credentials, so no error code: just the challenge."""
    return TokenError(INVALID_TOKEN, "No access token was sent.", missing=True, realm=realm)


def invalid_token(description: str, check: str = "") -> TokenError:
    """``invalid_token`` (401); ``check`` names the rule that refused the token."""
    return TokenError(INVALID_TOKEN, description, check=check)


def invalid_request(description: str) -> TokenError:
    return TokenError(INVALID_REQUEST, description)


def insufficient_scope(required: Iterable[str]) -> TokenError:
    scopes = tuple(required)
    return TokenError(
        INSUFFICIENT_SCOPE,
        "The access token lacks a required scope: " + " ".join(scopes) + ".",
        scope=scopes,
    )


def insufficient_user_authentication(
    description: str, *, acr_values: Iterable[str] = (), max_age: int | None = None
) -> TokenError:
    """RFC 9470 §3: the token is fine, how or when the user signed in is not; the client
    sends the user back to the authorization server with these ``acr_values`` /
    ``max_age``."""
    return TokenError(
        INSUFFICIENT_USER_AUTHENTICATION, description, acr_values=acr_values, max_age=max_age
    )


class RevocationUnavailable(Exception):
    """A revocation backend could not answer; the validator then refuses the token."""
