"""The storage ports the protocol depends on.

Each is a narrow ``Protocol``. Adapters: ``sql`` (SQLite and PostgreSQL through
SQLAlchemy Core), ``memory`` (unit tests) and ``redis`` (a shared revocation list).
Every write of something that expires carries its expiry; single-use things are
consumed atomically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tollhouse.models import (
    AccessTokenRecord,
    AdminToken,
    Api,
    AuthorizationCode,
    Client,
    Consent,
    DeviceAuthorization,
    DeviceStatus,
    InitialAccessToken,
    Interaction,
    PushedRequest,
    RefreshToken,
    RegistrationAccessToken,
    Revocation,
    Session,
    SigningKey,
    TokenFamily,
    User,
)
from tollhouse.storage.factor_ports import FactorStore as FactorStore


class ClientStore(Protocol):
    async def add_client(self, client: Client) -> None:
        """Raises ``Conflict`` if the client_id exists."""

    async def get_client(self, client_id: str) -> Client | None: ...

    async def list_clients(self) -> list[Client]: ...

    async def delete_client(self, client_id: str) -> bool: ...

    async def set_client_secret(
        self,
        client_id: str,
        secret_hash: str,
        *,
        previous_secret_hash: str | None = None,
        previous_secret_expires_at: int | None = None,
    ) -> bool:
        """Replace the secret hash; the previous one may stay valid until its expiry."""

    async def update_client(self, client: Client) -> bool:
        """Overwrite the stored client with the same client_id; False if there is none."""


class UserStore(Protocol):
    async def add_user(self, user: User) -> None:
        """Raises ``Conflict`` if the username exists."""

    async def get_user(self, user_id: str) -> User | None: ...

    async def get_user_by_username(self, username: str) -> User | None: ...

    async def list_users(self) -> list[User]: ...

    async def delete_user(self, username: str) -> bool: ...

    async def set_password(self, username: str, password_hash: str) -> bool: ...

    async def upgrade_password_hash(self, user_id: str, verified_hash: str, new_hash: str) -> bool:
        """Store ``new_hash`` only while the user's hash is still ``verified_hash`` (the
        one a sign-in just checked): a password changed meanwhile is never overwritten.
        False if nothing was replaced."""


class ApiStore(Protocol):
    async def add_api(self, api: Api) -> None:
        """Raises ``Conflict`` if the identifier exists or a scope belongs to another API."""

    async def get_api(self, identifier: str) -> Api | None: ...

    async def list_apis(self) -> list[Api]: ...

    async def delete_api(self, identifier: str) -> bool: ...


@runtime_checkable
class ApiSnapshots(Protocol):
    async def api_snapshot(self) -> tuple[Api, ...]:
        """Every API; the very same tuple object until the list may have changed, so a
        caller can keep what it derives from it until a new object arrives."""


class RegistryVersion(Protocol):
    async def registry_version(self) -> int:
        """A number that every write to clients (secrets included) or APIs changes, in
        the write's own transaction, whichever process made it (ADR 0011)."""


@dataclass(frozen=True, slots=True)
class IssuedByCode:
    """What one redemption of an authorization code issues, chosen before the code is
    consumed and recorded by the write that consumes it: the access token's ``jti``
    (expiring at ``exp``) and, when refresh tokens are issued, the new ``family`` with
    its ``first_token``. RFC 6749 §4.1.2: a reuse of the code must find all of it.

    ``access_token``, when given, is that access token's record (its ``jti`` and
    ``expires_at`` are ``jti`` and ``exp``), stored by the same write: the exchange
    then makes no write of its own to record the token."""

    jti: str
    exp: int
    family: TokenFamily | None = None
    first_token: RefreshToken | None = None
    access_token: AccessTokenRecord | None = None

    def __post_init__(self) -> None:
        if (self.family is None) != (self.first_token is None):
            raise ValueError("a family comes with its first refresh token")
        record = self.access_token
        if record is not None and (record.jti, record.expires_at) != (self.jti, self.exp):
            raise ValueError("the access token record is of another token")


class CodeStore(Protocol):
    async def add_code(self, code: AuthorizationCode) -> None: ...

    async def consume_code(
        self, code_hash: str, now: int, issued: IssuedByCode | None = None
    ) -> AuthorizationCode | None:
        """Atomically mark the code used if it is unused and unexpired at ``now``, and
        in the same write record ``issued`` on it (``issued_jti``, ``issued_exp``,
        ``family_id``) and store ``issued.family`` with its first token and
        ``issued.access_token`` (as ``AccessTokenStore.record_access_token`` would): a
        reuse that finds the code used finds what to revoke at once. The consumed code,
        or None with nothing written (of two redemptions only one wins). Without
        ``issued`` the code is only spent."""

    async def get_code(self, code_hash: str) -> AuthorizationCode | None:
        """The stored code whatever its state (to detect reuse)."""


class DeviceStore(Protocol):
    """RFC 8628 device authorizations, by the fingerprints of their codes."""

    async def add_device_authorization(self, device: DeviceAuthorization) -> None:
        """Raises ``Conflict`` if either code's hash exists or the client does not."""

    async def get_device_authorization(self, device_code_hash: str) -> DeviceAuthorization | None:
        """The stored request whatever its state."""

    async def find_device_authorization(self, user_code_hash: str) -> DeviceAuthorization | None:
        """The stored request with this user code, whatever its state."""

    async def record_device_poll(self, device_code_hash: str, now: int, interval: int) -> None:
        """Note a poll at ``now`` and the interval the device must keep from now on."""

    async def decide_device_authorization(
        self, device_code_hash: str, status: DeviceStatus, user_id: str | None, now: int
    ) -> bool:
        """Atomically set the decision of a request still pending and unexpired at
        ``now``; False, with nothing written, otherwise (of two decisions one wins)."""

    async def list_device_authorizations(self, now: int) -> list[DeviceAuthorization]:
        """The pending, unexpired requests, oldest first."""


class ConsentStore(Protocol):
    async def get_consent(self, user_id: str, client_id: str) -> Consent | None: ...

    async def save_consent(self, consent: Consent) -> None:
        """Insert or replace the consent of this user for this client."""


class SessionStore(Protocol):
    async def add_session(self, session: Session) -> None: ...

    async def get_session(self, session_hash: str) -> Session | None: ...

    async def delete_session(self, session_hash: str) -> None: ...

    async def touch_session(self, session_hash: str, now: int) -> None:
        """Record activity (idle timeout)."""

    async def get_session_by_sid(self, sid: str) -> Session | None: ...

    async def list_sessions(self, user_id: str | None = None) -> list[Session]:
        """Sessions (of one user, or all), newest first."""

    async def add_session_client(self, sid: str, client_id: str) -> None:
        """Remember that a client got tokens in this session (idempotent)."""

    async def session_clients(self, sid: str) -> list[str]: ...


class InteractionStore(Protocol):
    async def add_interaction(self, interaction: Interaction) -> None: ...

    async def get_interaction(self, interaction_hash: str) -> Interaction | None: ...

    async def take_interaction(self, interaction_hash: str, now: int) -> Interaction | None:
        """Atomically delete the interaction and return it, only if it was unexpired:
        of two requests completing the same interaction, one wins."""


class AdminTokenStore(Protocol):
    """Bearer tokens of the interaction API, stored as fingerprints."""

    async def add_admin_token(self, token: AdminToken) -> None:
        """Raises ``Conflict`` if the token_id or hash exists."""

    async def get_admin_token(self, token_hash: str) -> AdminToken | None: ...

    async def list_admin_tokens(self) -> list[AdminToken]:
        """Every stored token (expired ones too, until purged), newest first."""

    async def delete_admin_token(self, token_id: str) -> bool: ...


class KeyStore(Protocol):
    async def add_key(self, key: SigningKey) -> None:
        """Raises ``Conflict`` if the kid exists, or another key of the same ``alg`` has
        the same (non-null) ``generation``: of instances rotating at once, one wins."""

    async def list_keys(self) -> list[SigningKey]:
        """Every stored key, newest first."""

    async def set_key_status(self, kid: str, status: str, at: int) -> bool: ...

    async def delete_retired_keys(self, retired_before: int) -> int:
        """Delete keys with status ``retired`` and ``retired_at <= retired_before``;
        how many."""

    async def replace_key_ciphertexts(
        self, replacements: Mapping[str, tuple[bytes, bytes]]
    ) -> None:
        """Set each kid's private ciphertext from ``old`` to ``new`` (``kid → (old, new)``)
        in one transaction. Raises ``Conflict``, changing nothing, if a listed key is
        missing or no longer holds ``old``."""


class RevocationList(Protocol):
    async def revoke(self, revocation: Revocation) -> None:
        """Idempotent; kept until ``expires_at``."""

    async def is_revoked(self, jti: str, now: int) -> bool: ...


class OneTimeUses(Protocol):
    """Values that may be used once within their lifetime: client assertion ``jti``s
    (RFC 7523 §3 item 7), shared by every instance of the server."""

    async def use_once(self, key: str, expires_at: int, now: int) -> bool:
        """Record ``key`` until ``expires_at``; False if it is recorded already."""


class PushedRequestStore(Protocol):
    async def add_pushed_request(self, pushed: PushedRequest) -> None: ...

    async def take_pushed_request(self, request_hash: str, now: int) -> PushedRequest | None:
        """Remove and return it (RFC 9126 §4: used once); None if missing or expired."""


class RevocationFeedStore(Protocol):
    async def revocations_since(self, cursor: int, now: int, limit: int) -> list[Revocation]:
        """Unexpired revocations with ``seq > cursor``, in ``seq`` order, at most ``limit``."""

    async def revocations_between(self, start: int, now: int, limit: int) -> list[Revocation]:
        """Unexpired revocations with ``revoked_at >= start`` (a re-read window that covers
        rows whose sequence number committed out of order)."""


class RefreshTokenStore(Protocol):
    async def add_family(self, family: TokenFamily) -> None: ...

    async def get_family(self, family_id: str) -> TokenFamily | None: ...

    async def revoke_family(self, family_id: str, now: int, reason: str) -> bool:
        """Mark the family revoked (first reason wins); True if it was live until now."""

    async def families_of(
        self,
        *,
        client_id: str | None = None,
        subject: str | None = None,
        sid: str | None = None,
    ) -> list[TokenFamily]:
        """Unrevoked families matching every given filter (at least one)."""

    async def add_refresh_token(
        self, token: RefreshToken, *, family: TokenFamily | None = None
    ) -> None:
        """Store ``token``; in the same transaction (one round trip per grant) first add
        its new ``family``."""

    async def get_refresh_token(self, token_hash: str) -> RefreshToken | None: ...

    async def rotate_refresh_token(
        self, consume: str, successor: RefreshToken, now: int, *, replaces: str
    ) -> RefreshToken | None:
        """One transaction: mark the token whose hash is ``consume`` used, but only if it
        is unused, unexpired and its family live at ``now``; then store ``successor`` and
        mark the token ``replaces`` (a hash) as replaced by it. The consumed token, or
        None with nothing written: of two rotations of one token only one wins
        (RFC 9700 §4.14.2)."""


class AccessTokenStore(Protocol):
    async def record_access_token(self, record: AccessTokenRecord) -> None: ...

    async def record_access_tokens(self, records: Sequence[AccessTokenRecord]) -> None:
        """Several records in one transaction (storage/group_commit.py); all or none."""

    async def get_access_token(self, jti: str) -> AccessTokenRecord | None: ...

    async def access_tokens_of(
        self,
        now: int,
        *,
        family_id: str | None = None,
        client_id: str | None = None,
        subject: str | None = None,
    ) -> list[AccessTokenRecord]:
        """Unexpired access tokens matching every given filter (at least one)."""


class RegistrationTokenStore(Protocol):
    """RFC 7591 initial access tokens and RFC 7592 registration access tokens, by hash."""

    async def add_initial_access_token(self, token: InitialAccessToken) -> None: ...

    async def get_initial_access_token(self, token_hash: str) -> InitialAccessToken | None: ...

    async def use_initial_access_token(
        self, token_hash: str, now: int
    ) -> InitialAccessToken | None:
        """Atomically spend one use of an unexpired token with uses left; the token
        after the decrement, or None if it could not be used."""

    async def set_registration_access_token(self, token: RegistrationAccessToken) -> None:
        """Insert or replace the token of ``token.client_id``; ``Conflict`` if no such client."""

    async def get_registration_access_token(
        self, client_id: str
    ) -> RegistrationAccessToken | None: ...

    async def replace_registration_access_token(
        self, client_id: str, old_hash: str, token: RegistrationAccessToken
    ) -> bool:
        """Atomically swap the token of ``client_id`` if its hash is still ``old_hash``."""


class Storage(
    ClientStore,
    UserStore,
    FactorStore,
    ApiStore,
    RegistryVersion,
    CodeStore,
    DeviceStore,
    ConsentStore,
    SessionStore,
    InteractionStore,
    KeyStore,
    RevocationList,
    RevocationFeedStore,
    RefreshTokenStore,
    AccessTokenStore,
    RegistrationTokenStore,
    AdminTokenStore,
    OneTimeUses,
    PushedRequestStore,
    Protocol,
):
    """Everything one backend provides; the provider hands each part to its user."""

    async def ping(self) -> None:
        """Raise if the backend is unreachable."""

    @property
    def shares_writer(self) -> bool:
        """Whether all writes queue for one writer, so purging must leave it gaps."""
        ...

    async def purge_expired(
        self, now: int, batch: int = 1000, *, drained: set[str] | None = None
    ) -> int:
        """Delete at most ``batch`` expired rows per table (codes, device authorizations,
        sessions, interactions, revocations, refresh tokens, families, access token
        records); returns how many. Tables named in ``drained`` are skipped, and each
        table whose batch comes back short of ``batch`` is added to it."""

    async def close(self) -> None: ...
