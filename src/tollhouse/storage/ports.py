"""The storage ports the protocol depends on.

Each is a narrow ``Protocol``. Adapters: ``sql`` (SQLite and PostgreSQL through
SQLAlchemy Core) and ``memory`` (unit tests). Every write of something that expires
carries its expiry; single-use things are consumed atomically.
"""

from __future__ import annotations

from typing import Protocol

from tollhouse.models import (
    AccessTokenRecord,
    Api,
    AuthorizationCode,
    Client,
    Consent,
    Interaction,
    RefreshToken,
    Revocation,
    Session,
    SigningKey,
    TokenFamily,
    User,
)


class ClientStore(Protocol):
    async def add_client(self, client: Client) -> None:
        """Raises ``Conflict`` if the client_id exists."""

    async def get_client(self, client_id: str) -> Client | None: ...

    async def list_clients(self) -> list[Client]: ...

    async def delete_client(self, client_id: str) -> bool: ...

    async def set_client_secret(self, client_id: str, secret_hash: str) -> bool: ...


class UserStore(Protocol):
    async def add_user(self, user: User) -> None:
        """Raises ``Conflict`` if the username exists."""

    async def get_user(self, user_id: str) -> User | None: ...

    async def get_user_by_username(self, username: str) -> User | None: ...

    async def list_users(self) -> list[User]: ...

    async def delete_user(self, username: str) -> bool: ...

    async def set_password(self, username: str, password_hash: str) -> bool: ...


class ApiStore(Protocol):
    async def add_api(self, api: Api) -> None:
        """Raises ``Conflict`` if the identifier exists or a scope belongs to another API."""

    async def get_api(self, identifier: str) -> Api | None: ...

    async def list_apis(self) -> list[Api]: ...

    async def delete_api(self, identifier: str) -> bool: ...


class CodeStore(Protocol):
    async def add_code(self, code: AuthorizationCode) -> None: ...

    async def consume_code(self, code_hash: str, now: int) -> AuthorizationCode | None:
        """Atomically mark the code used; return it only if it was unused until now."""

    async def get_code(self, code_hash: str) -> AuthorizationCode | None:
        """The stored code whatever its state (to detect reuse)."""

    async def record_issued(
        self, code_hash: str, jti: str, exp: int, family_id: str | None = None
    ) -> None:
        """Remember what the first redemption issued, so a reuse can revoke it."""

    async def purge_codes(self, now: int) -> int:
        """Delete codes that expired; returns how many."""


class ConsentStore(Protocol):
    async def get_consent(self, user_id: str, client_id: str) -> Consent | None: ...

    async def save_consent(self, consent: Consent) -> None:
        """Insert or replace the consent of this user for this client."""


class SessionStore(Protocol):
    async def add_session(self, session: Session) -> None: ...

    async def get_session(self, session_hash: str) -> Session | None: ...

    async def delete_session(self, session_hash: str) -> None: ...


class InteractionStore(Protocol):
    async def add_interaction(self, interaction: Interaction) -> None: ...

    async def get_interaction(self, interaction_hash: str) -> Interaction | None: ...

    async def delete_interaction(self, interaction_hash: str) -> None: ...


class KeyStore(Protocol):
    async def add_key(self, key: SigningKey) -> None: ...

    async def list_keys(self) -> list[SigningKey]:
        """Every stored key, newest first."""

    async def set_key_status(self, kid: str, status: str, at: int) -> bool: ...


class RevocationList(Protocol):
    async def revoke(self, revocation: Revocation) -> None:
        """Idempotent; kept until ``expires_at``."""

    async def is_revoked(self, jti: str, now: int) -> bool: ...


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
        self, *, client_id: str | None = None, subject: str | None = None
    ) -> list[TokenFamily]:
        """Unrevoked families of a client and/or a subject."""

    async def add_refresh_token(self, token: RefreshToken) -> None: ...

    async def get_refresh_token(self, token_hash: str) -> RefreshToken | None: ...

    async def consume_refresh_token(self, token_hash: str, now: int) -> RefreshToken | None:
        """Atomically mark the token used; return it only if it was unused and unexpired."""

    async def set_replaced_by(self, token_hash: str, replaced_by: str) -> None: ...


class AccessTokenStore(Protocol):
    async def record_access_token(self, record: AccessTokenRecord) -> None: ...

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


class Storage(
    ClientStore,
    UserStore,
    ApiStore,
    CodeStore,
    ConsentStore,
    SessionStore,
    InteractionStore,
    KeyStore,
    RevocationList,
    RevocationFeedStore,
    RefreshTokenStore,
    AccessTokenStore,
    Protocol,
):
    """Everything one backend provides; the provider hands each part to its user."""

    async def ping(self) -> None:
        """Raise if the backend is unreachable."""

    async def purge_expired(self, now: int, batch: int = 1000) -> int:
        """Delete at most ``batch`` expired rows per table (codes, sessions, interactions,
        revocations, refresh tokens, families, access token records); returns how many."""

    async def close(self) -> None: ...
