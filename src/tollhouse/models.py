"""Plain records the protocol works on. No persistence logic lives here."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class GrantType(StrEnum):
    AUTHORIZATION_CODE = "authorization_code"
    REFRESH_TOKEN = "refresh_token"
    CLIENT_CREDENTIALS = "client_credentials"
    DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
    """RFC 8628 §3.4 (``--grant-type device_code`` on the command line)."""


class AuthMethod(StrEnum):
    """RFC 7591 §2 token_endpoint_auth_method values we accept."""

    CLIENT_SECRET_BASIC = "client_secret_basic"
    CLIENT_SECRET_POST = "client_secret_post"
    NONE = "none"
    PRIVATE_KEY_JWT = "private_key_jwt"
    """RFC 7523 §2.2 / OIDC Core §9: a JWT signed with a key from the client's JWKS."""
    TLS_CLIENT_AUTH = "tls_client_auth"
    """RFC 8705 §2.1: a CA-validated TLS client certificate carrying a registered name."""
    SELF_SIGNED_TLS_CLIENT_AUTH = "self_signed_tls_client_auth"
    """RFC 8705 §2.2: a TLS client certificate whose key is in the client's JWKS."""


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
    access_token_ttl: int | None = None
    """Per-client access token lifetime (≤ 3600 s); None: the server default."""
    refresh_token_ttl: int | None = None
    """Per-client refresh token idle lifetime; None: the server default."""
    refresh_token_absolute_ttl: int | None = None
    """Per-client lifetime of a refresh token family; None: the server default."""
    introspect_audiences: tuple[str, ...] = ()
    """APIs this client serves as a resource server: it may introspect their tokens."""
    post_logout_redirect_uris: tuple[str, ...] = ()
    """OIDC RP-Initiated Logout 1.0 §3.1: where /logout may send the browser."""
    backchannel_logout_uri: str | None = None
    """OIDC Back-Channel Logout 1.0 §2.2: where logout tokens are posted."""
    id_token_signed_response_alg: str | None = None
    """OIDC Registration §2; None means RS256 (the specification's default)."""
    subject_type: str = "public"
    """``public`` or ``pairwise`` (OIDC Core §8)."""
    previous_secret_hash: str | None = None
    """The secret replaced by ``clients rotate-secret --overlap``, still accepted until
    ``previous_secret_expires_at``."""
    previous_secret_expires_at: int | None = None
    allowed_cors_origins: tuple[str, ...] = ()
    """Origins, beyond those of the redirect URIs, whose browser code may call the token,
    userinfo and revocation endpoints (protocol/cors.py)."""
    self_registered: bool = False
    """Registered over HTTP with no operator involved (``TOLLHOUSE_REGISTRATION=open``,
    no initial access token): nobody vouches for its redirect hosts, so the browser is
    never sent there unasked and consent is asked every time (RFC 9700 §4.11.2)."""
    jwks: str | None = None
    """RFC 7591 §2 ``jwks``: the client's public keys, a JWK Set as JSON text."""
    jwks_uri: str | None = None
    """RFC 7591 §2 ``jwks_uri``: where the client publishes its JWK Set."""
    require_pushed_authorization_requests: bool = False
    """RFC 9126 §6: this client's authorization requests must come through /par."""
    require_signed_request_object: bool = False
    """RFC 9101 §10.5: this client's authorization requests must be signed objects."""
    dpop_bound_access_tokens: bool = False
    """RFC 9449 §5.2 (RFC 7591 metadata): every token request must carry a DPoP proof."""
    tls_client_auth_kind: str | None = None
    """RFC 8705 §2.1.2: which name a ``tls_client_auth`` certificate carries
    (``subject_dn``, ``san_dns``, ``san_uri``, ``san_ip``, ``san_email``)."""
    tls_client_auth_name: str | None = None
    require_mfa: bool = False
    """Its users must pass a second factor (``clients create --require-mfa``); a request
    cannot lower this (docs/mfa.md)."""
    require_passkey: bool = False
    """Its users must sign in with a passkey (``--require-passkey``, ``acr`` ``phr``)."""

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == AuthMethod.NONE

    @property
    def uses_keys(self) -> bool:
        """Authenticates with a signed assertion (RFC 7523) rather than a secret."""
        return self.token_endpoint_auth_method == AuthMethod.PRIVATE_KEY_JWT

    @property
    def uses_certificate(self) -> bool:
        """Authenticates with a TLS client certificate (RFC 8705 §2)."""
        return self.token_endpoint_auth_method in (
            AuthMethod.TLS_CLIENT_AUTH,
            AuthMethod.SELF_SIGNED_TLS_CLIENT_AUTH,
        )


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    """The stable, non-guessable subject (``sub``)."""
    username: str
    password_hash: str
    created_at: int
    email: str | None = None
    name: str | None = None
    """Full name, for the ``profile`` scope's ``name`` claim."""
    email_verified: bool = False


@dataclass(frozen=True, slots=True)
class TotpFactor:
    """A user's RFC 6238 authenticator: its secret sealed under the master key
    (security/secretbox.py), whether a first code confirmed it, and the last time step
    a code was accepted for (no code is accepted twice, RFC 6238 §5.2)."""

    user_id: str
    sealed_secret: bytes
    confirmed: bool
    created_at: int
    last_step: int | None = None


@dataclass(frozen=True, slots=True)
class Passkey:
    """A WebAuthn credential registered by a user (a passkey or security key): its
    public key and the last signature counter seen (W3C WebAuthn §6.1.1)."""

    credential_id: str
    """base64url, as the browser reports it."""
    user_id: str
    public_key: bytes
    sign_count: int
    created_at: int


@dataclass(frozen=True, slots=True)
class Api:
    """A resource server tokens are minted for (RFC 8707 resource indicator)."""

    identifier: str
    scopes: tuple[str, ...]
    created_at: int
    name: str | None = None
    descriptions: dict[str, str] = field(default_factory=dict)
    """Plain words for some of ``scopes`` (scope → text), shown on the consent page."""


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
    family_id: str | None = None
    """The refresh token family the first redemption started, if any."""
    amr: tuple[str, ...] = ()
    """How the user authenticated (RFC 8176), from the session: for the ID Token."""
    acr: str | None = None
    """Authentication context class reference (OIDC Core §2); None: not asserted."""
    dpop_jkt: str | None = None
    """RFC 9449 §10: the thumbprint of the key the exchange's DPoP proof must use."""


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
    """Absolute expiry."""
    sid: str = ""
    """Public session id (OIDC ``sid`` claim); never the cookie value."""
    last_active_at: int = 0
    """For the idle timeout; 0 means ``created_at``."""
    amr: tuple[str, ...] = ("pwd",)
    """How the user authenticated (RFC 8176 method names)."""
    acr: str | None = None
    """Authentication context class reference (OIDC Core §2); None: not asserted."""


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
class PushedRequest:
    """An authorization request pushed to /par (RFC 9126), waiting for /authorize."""

    request_hash: str
    """The SHA-256 fingerprint of the ``request_uri``'s random part."""
    client_id: str
    params: dict[str, str]
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
    """``active`` signs (from ``activates_at``) and is published; ``retired`` is
    published only, until every token it signed has expired."""
    retired_at: int | None = None
    activates_at: int | None = None
    """When it starts signing; published from creation (the rotation lead time).
    None: at once."""
    generation: int | None = None
    """Rotation number within its ``alg`` (unique with it): instances that rotate at
    the same moment insert the same generation and only one of them succeeds."""


@dataclass(frozen=True, slots=True)
class Revocation:
    jti: str
    expires_at: int
    revoked_at: int
    reason: str = field(default="revoked")
    seq: int = 0
    """Position in the revocation feed, assigned by the store (0 before it is stored)."""


@dataclass(frozen=True, slots=True)
class TokenFamily:
    """All refresh tokens descending from one authorization (RFC 9700 §4.14.2)."""

    family_id: str
    client_id: str
    subject: str
    created_at: int
    expires_at: int
    """Absolute lifetime: no token of the family outlives it."""
    revoked_at: int | None = None
    revoked_reason: str | None = None
    sid: str | None = None
    """The browser session the family was granted in (OIDC)."""
    offline: bool = False
    """Granted with ``offline_access``: it outlives the browser session."""
    amr: tuple[str, ...] = ()
    acr: str | None = None
    """How the user authenticated for the authorization, kept for the ID Tokens of
    every refresh (OIDC Core §12.2)."""
    dpop_jkt: str | None = None
    """RFC 9449 §5: a public client's refresh tokens are bound to this DPoP key."""

    def live_at(self, now: int) -> bool:
        """Not revoked and within its absolute lifetime: its tokens may still rotate."""
        return self.revoked_at is None and self.expires_at > now


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """One refresh token; ``token_hash`` is the fingerprint of the opaque value."""

    token_hash: str
    family_id: str
    client_id: str
    subject: str
    scopes: tuple[str, ...]
    audience: str
    auth_time: int | None
    created_at: int
    expires_at: int
    """Idle expiry, never past the family's absolute expiry."""
    used_at: int | None = None
    replaced_by: str | None = None
    """Hash of the token that replaced this one on rotation."""


@dataclass(frozen=True, slots=True)
class AccessTokenRecord:
    """What was issued, so an access token can be found and revoked by family,
    client or user; the token itself is never stored."""

    jti: str
    client_id: str
    subject: str
    expires_at: int
    issued_at: int
    family_id: str | None = None


@dataclass(frozen=True, slots=True)
class InitialAccessToken:
    """RFC 7591 §3: authorizes client registrations; only its fingerprint is stored."""

    token_hash: str
    created_at: int
    expires_at: int
    uses_left: int


@dataclass(frozen=True, slots=True)
class RegistrationAccessToken:
    """RFC 7592 §1: authorizes managing one registered client; stored as a fingerprint."""

    client_id: str
    token_hash: str
    created_at: int


@dataclass(frozen=True, slots=True)
class AdminToken:
    """Authorizes the interaction API (``tollhouse admin-token create``); only the
    fingerprint of the bearer value is stored."""

    token_id: str
    """Public name for listing and revoking; never the bearer value."""
    token_hash: str
    name: str
    created_at: int
    expires_at: int


class DeviceStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class DeviceAuthorization:
    """An RFC 8628 §3.1 request of a device, waiting for a person at ``/device``.

    Both codes are kept only as fingerprints. Once approved, the authorization code
    the device redeems at /token is stored under :attr:`code_hash`."""

    device_code_hash: str
    user_code_hash: str
    client_id: str
    scopes: tuple[str, ...]
    audience: str
    created_at: int
    expires_at: int
    interval: int
    """Seconds the device must wait between polls; grows by 5 on ``slow_down``."""
    ip: str | None = None
    """The address the device asked from, shown to the person who approves."""
    user_agent: str | None = None
    status: DeviceStatus = DeviceStatus.PENDING
    user_id: str | None = None
    decided_at: int | None = None
    last_polled_at: int | None = None

    @property
    def code_hash(self) -> str:
        """The key of the authorization code an approval stores: no presented code
        fingerprints to it (a fingerprint has no ``:``), so it is redeemable only by
        the device grant."""
        return f"device:{self.device_code_hash}"
