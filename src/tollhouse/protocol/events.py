"""Security events the protocol reports: the seam between the RFC rules and the audit
trail / metrics (RFC 9700 §4.14.2 replay detection, RFC 6749 §4.1.2 code reuse,
RFC 7009 revocation).

The protocol only *states* what happened, through the small :class:`Events` port; what
an event becomes (a JSON audit line, a Prometheus counter, nothing in a unit test) is
decided outside, in :mod:`tollhouse.observability`. Events carry identifiers (client id,
user id, ``jti``, family id), never a bearer secret: no code, token, password or
client secret is ever a field here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

TokenKind = Literal["access_token", "refresh_token", "id_token"]
DeliveryResult = Literal["delivered", "failed", "refused", "dropped"]


@dataclass(frozen=True, slots=True)
class LoginSucceeded:
    user_id: str
    client_id: str | None = None
    name: ClassVar[str] = "login_success"


@dataclass(frozen=True, slots=True)
class LoginFailed:
    """No username: a password typed into the username field must not reach a log."""

    client_id: str | None = None
    name: ClassVar[str] = "login_failure"


@dataclass(frozen=True, slots=True)
class ConsentDecided:
    client_id: str
    user_id: str
    allowed: bool
    scopes: tuple[str, ...] = ()
    name: ClassVar[str] = "consent"


@dataclass(frozen=True, slots=True)
class TokenIssued:
    kind: TokenKind
    client_id: str
    subject: str
    jti: str | None = None
    """Access and ID tokens: their ``jti``; refresh tokens: none (see ``family_id``)."""
    family_id: str | None = None
    audience: str | None = None
    name: ClassVar[str] = "token_issued"


@dataclass(frozen=True, slots=True)
class TokenRevoked:
    """An access token put on the revocation list."""

    jti: str
    reason: str
    name: ClassVar[str] = "token_revoked"


@dataclass(frozen=True, slots=True)
class FamilyRevoked:
    """A refresh token family (one grant) revoked."""

    family_id: str
    reason: str
    name: ClassVar[str] = "family_revoked"


@dataclass(frozen=True, slots=True)
class RefreshReplayed:
    """RFC 9700 §4.14.2: an already-rotated refresh token was presented again."""

    family_id: str
    client_id: str
    name: ClassVar[str] = "refresh_replay"


@dataclass(frozen=True, slots=True)
class CodeReplayed:
    """RFC 6749 §4.1.2: an authorization code was used more than once."""

    client_id: str
    name: ClassVar[str] = "code_replay"


@dataclass(frozen=True, slots=True)
class AssertionReplayed:
    """RFC 7523 §3: a client assertion's jti was presented again (a captured
    assertion replayed, or a client that reuses its jtis)."""

    client_id: str
    name: ClassVar[str] = "assertion_replay"


@dataclass(frozen=True, slots=True)
class BackchannelLogout:
    """What became of one logout token (OIDC Back-Channel Logout 1.0 §2.5), reported by
    the sender: ``delivered``; ``failed`` after ``attempts`` tries; ``refused``, its
    target being internal (a client registered over HTTP, issue 21); ``dropped``, the
    queue being full or the server stopping. ``detail``: the last HTTP status, error
    or reason, never the token."""

    client_id: str
    result: DeliveryResult
    attempts: int
    detail: str | None = None
    name: ClassVar[str] = "backchannel_logout"


DeviceOutcome = Literal["requested", "approved", "denied", "expired", "wrong_user_code"]


@dataclass(frozen=True, slots=True)
class DeviceFlow:
    """RFC 8628: a device asked, a person approved or denied, a poll found the request
    expired, or someone typed a user code that matches no pending request."""

    outcome: DeviceOutcome
    client_id: str | None = None
    user_id: str | None = None
    name: ClassVar[str] = "device"


MfaAction = Literal[
    "totp_enrolled",
    "totp_confirmed",
    "totp_used",
    "totp_failed",
    "totp_replayed",
    "recovery_codes_created",
    "recovery_code_used",
    "factors_reset",
    "passkey_registered",
    "passkey_used",
    "passkey_failed",
]


@dataclass(frozen=True, slots=True)
class SecondFactor:
    """Something happened to a user's second factor: enrolment (``by`` the user on the
    account page, at sign-in, or an operator), a use, a failure, a reset. Never the
    secret or the code."""

    user_id: str
    action: MfaAction
    by: str | None = None
    client_id: str | None = None
    name: ClassVar[str] = "mfa"


SecurityEvent = (
    LoginSucceeded
    | LoginFailed
    | ConsentDecided
    | TokenIssued
    | TokenRevoked
    | FamilyRevoked
    | RefreshReplayed
    | CodeReplayed
    | AssertionReplayed
    | BackchannelLogout
    | DeviceFlow
    | SecondFactor
)


class Events(Protocol):
    """Where security events go. ``emit`` must not raise and must not block."""

    def emit(self, event: SecurityEvent) -> None: ...


class NoEvents:
    """Drops every event: the default for components built in isolation (unit tests)."""

    def emit(self, event: SecurityEvent) -> None:
        return None


NO_EVENTS: Events = NoEvents()


class RecordedEvents:
    """Keeps every event in a list: a fake for tests."""

    def __init__(self) -> None:
        self.events: list[SecurityEvent] = []

    def emit(self, event: SecurityEvent) -> None:
        self.events.append(event)
