"""The one family of errors: every failure a client can see is an ``OAuthError``.

RFC 6749 §5.2 and §4.1.2.1 name the error codes; RFC 6750 §3.1 adds the bearer ones,
RFC 7591 §3.2.2 the registration ones, RFC 8707 §2 ``invalid_target`` and RFC 9101
§6.2 those of request objects.
An error carries a public ``description`` (restricted to the RFC 6749 §5.2 character
set) and a private ``debug`` text that is logged, never sent.
"""

from __future__ import annotations

import copy
from typing import ClassVar, Self

_ALLOWED = {chr(c) for c in range(0x20, 0x7F)} - {'"', "\\"}


def _clean(text: str) -> str:
    """RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E."""
    return "".join(ch if ch in _ALLOWED else "?" for ch in text)


class OAuthError(Exception):
    """Base of every protocol error; subclasses fix ``error`` and ``status``."""

    error: ClassVar[str] = "server_error"
    status: ClassVar[int] = 500
    allow_redirect: ClassVar[bool] = True
    default_description: ClassVar[str] = "The server could not complete the request."

    def __init__(self, description: str | None = None, *, debug: str | None = None) -> None:
        self.description = _clean(description or self.default_description)
        self.debug = debug
        super().__init__(f"{self.error}: {self.description}")

    def with_description(self, description: str) -> Self:
        clone = copy.copy(self)
        clone.description = _clean(description)
        return clone

    def to_dict(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class InvalidRequest(OAuthError):
    error = "invalid_request"
    status = 400
    default_description = "The request is missing a parameter or is malformed."


class InvalidClient(OAuthError):
    """RFC 6749 §5.2: 401 when the client tried HTTP Basic, else 400 or 401."""

    error = "invalid_client"
    status = 401
    allow_redirect = False
    default_description = "Client authentication failed."


class InvalidRedirectUri(OAuthError):
    """The redirect_uri is not registered: shown to the user, never redirected to."""

    error = "invalid_request"
    status = 400
    allow_redirect = False
    default_description = "The redirect_uri is not registered for this client."


class UnknownClient(OAuthError):
    """An /authorize request names a client that does not exist (never redirected)."""

    error = "invalid_client"
    status = 400
    allow_redirect = False
    default_description = "The client_id is not registered."


class InvalidGrant(OAuthError):
    error = "invalid_grant"
    status = 400
    default_description = "The authorization grant is invalid, expired, or was already used."


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"
    status = 400
    default_description = "The client is not allowed to use this grant type."


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    status = 400
    default_description = "The grant type is not supported."


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"
    status = 400
    default_description = "Only response_type=code is supported."


class InvalidScope(OAuthError):
    error = "invalid_scope"
    status = 400
    default_description = "The requested scope is invalid, unknown, or not allowed."


class InvalidTarget(OAuthError):
    """RFC 8707 §2: the requested resource is unknown or not allowed."""

    error = "invalid_target"
    status = 400
    default_description = "The requested resource is not known to this server."


class AccessDenied(OAuthError):
    error = "access_denied"
    status = 403
    default_description = "The resource owner denied the request."


class ServerError(OAuthError):
    error = "server_error"
    status = 500


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status = 503
    default_description = "The server is temporarily unable to handle the request."
    retry_after: int | None = None
    """Seconds for ``Retry-After`` when the cause knows them; None: the web layer's default."""


class StorageUnavailable(TemporarilyUnavailable):
    """The database cannot be reached (down, restarting, network): 503 + Retry-After,
    never a 500. Raised by the storage adapters in place of driver errors."""

    default_description = "The server cannot reach its database right now; retry shortly."


class SlowDown(OAuthError):
    """Rate limit hit: 429 with Retry-After."""

    error = "slow_down"
    status = 429
    default_description = "Too many requests; retry later."


class AuthorizationPending(OAuthError):
    """RFC 8628 §3.5: the person has not yet decided; poll again after ``interval``."""

    error = "authorization_pending"
    status = 400
    default_description = "The user has not yet approved or denied the request."


class PollTooFast(OAuthError):
    """RFC 8628 §3.5 ``slow_down`` as a token error (400): still pending, and the
    interval grows by 5 seconds."""

    error = "slow_down"
    status = 400
    default_description = "Polling too fast; wait the interval, now 5 seconds longer."


class DeviceAccessDenied(OAuthError):
    """RFC 8628 §3.5 ``access_denied`` at the token endpoint (a 400, RFC 6749 §5.2)."""

    error = "access_denied"
    status = 400
    default_description = "The user denied the request."


class ExpiredToken(OAuthError):
    """RFC 8628 §3.5: the device code expired; start a new request."""

    error = "expired_token"
    status = 400
    default_description = "The device code has expired."


class LoginRequired(OAuthError):
    error = "login_required"
    status = 400
    default_description = "The user must sign in."


class ConsentRequired(OAuthError):
    error = "consent_required"
    status = 400
    default_description = "The user must consent."


class InvalidToken(OAuthError):
    """RFC 6750 §3.1."""

    error = "invalid_token"
    status = 401
    default_description = "The access token is invalid."


class InsufficientScope(OAuthError):
    error = "insufficient_scope"
    status = 403
    default_description = "The access token does not carry the required scope."


class InvalidRequestUri(OAuthError):
    """RFC 9101 §6.2 / RFC 9126 §4: the request_uri is unknown, used or expired."""

    error = "invalid_request_uri"
    status = 400
    default_description = "The request_uri is not valid."


class InvalidRequestObject(OAuthError):
    """RFC 9101 §6.2: the request object is not valid."""

    error = "invalid_request_object"
    status = 400
    default_description = "The request object is not valid."


class InvalidDpopProof(OAuthError):
    """RFC 9449 §5, §7.1: the DPoP proof is missing, malformed or fails a check of §4.3.

    400 at the token endpoint; resource servers answer 401 with a ``DPoP`` challenge."""

    error = "invalid_dpop_proof"
    status = 400
    default_description = "The DPoP proof is invalid."


class UseDpopNonce(OAuthError):
    """RFC 9449 §8: the server requires a nonce in the proof; ``nonce`` goes in the
    ``DPoP-Nonce`` response header."""

    error = "use_dpop_nonce"
    status = 400
    default_description = "Authorization server requires nonce in DPoP proof."

    def __init__(self, nonce: str, description: str | None = None) -> None:
        super().__init__(description)
        self.nonce = nonce


class InvalidClientMetadata(OAuthError):
    """RFC 7591 §3.2.2."""

    error = "invalid_client_metadata"
    status = 400
    default_description = "The client metadata is invalid."


class InvalidRedirectUriMetadata(OAuthError):
    """RFC 7591 §3.2.2 ``invalid_redirect_uri`` for registration."""

    error = "invalid_redirect_uri"
    status = 400
    default_description = "A redirect URI is invalid."


class ConfigError(Exception):
    """Start-up configuration is invalid; the message is one line for the operator."""


class NotFound(Exception):
    """An administrative lookup found nothing (CLI: exit code 1)."""


class Conflict(Exception):
    """An administrative create clashes with an existing record."""
