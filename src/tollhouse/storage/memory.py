"""The in-memory adapter: every storage port in plain dicts, for unit tests.

It keeps the SQL adapter's rules, so a test that passes here passes on a database:
duplicates and dangling references raise :class:`~tollhouse.errors.Conflict`,
deleting a user or client removes what hangs off it, and a code or refresh token is
consumed once.
Methods never await, so each runs to completion on the event loop: that is what
makes ``consume_code`` atomic here. Mutable fields are copied in and out, as a
database would.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, TypeVar

from tollhouse.errors import Conflict
from tollhouse.models import (
    AccessTokenRecord,
    AdminToken,
    Api,
    AuthorizationCode,
    Client,
    Consent,
    InitialAccessToken,
    Interaction,
    RefreshToken,
    RegistrationAccessToken,
    Revocation,
    Session,
    SigningKey,
    TokenFamily,
    User,
)


class _Expiring(Protocol):
    @property
    def expires_at(self) -> int: ...


E = TypeVar("E", bound=_Expiring)


def _purge(table: dict[str, E], now: int, batch: int) -> list[E]:
    """Remove at most ``batch`` expired entries of ``table``; the removed ones."""
    expired = [key for key, value in table.items() if value.expires_at <= now][:batch]
    return [table.pop(key) for key in expired]


class MemoryStorage:
    """Implements :class:`~tollhouse.storage.ports.Storage` in process memory."""

    def __init__(self) -> None:
        self._clients: dict[str, Client] = {}
        self._users: dict[str, User] = {}
        self._apis: dict[str, Api] = {}
        self._scope_owner: dict[str, str] = {}
        self._codes: dict[str, AuthorizationCode] = {}
        self._consents: dict[tuple[str, str], Consent] = {}
        self._sessions: dict[str, Session] = {}
        self._session_clients: dict[str, set[str]] = {}
        """Client ids by session ``sid``; they go when the session goes."""
        self._interactions: dict[str, Interaction] = {}
        self._keys: dict[str, SigningKey] = {}
        self._revocations: dict[str, Revocation] = {}
        self._revocation_seq = itertools.count(1)
        self._families: dict[str, TokenFamily] = {}
        self._refresh_tokens: dict[str, RefreshToken] = {}
        self._access_tokens: dict[str, AccessTokenRecord] = {}
        self._initial_tokens: dict[str, InitialAccessToken] = {}
        self._registration_tokens: dict[str, RegistrationAccessToken] = {}
        self._admin_tokens: dict[str, AdminToken] = {}

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def purge_expired(self, now: int, batch: int = 1000) -> int:
        """Delete at most ``batch`` expired rows per table; how many. In the SQL
        adapter's order: the tokens of a family purged after them go uncounted."""
        if batch < 1:
            raise ValueError("batch must be at least 1")
        removed = len(_purge(self._codes, now, batch))
        purged_sessions = _purge(self._sessions, now, batch)
        self._forget_clients_of(purged_sessions)
        removed += len(purged_sessions)
        removed += len(_purge(self._interactions, now, batch))
        removed += len(_purge(self._revocations, now, batch))
        removed += len(_purge(self._refresh_tokens, now, batch))
        gone = {family.family_id for family in _purge(self._families, now, batch)}
        self._drop_tokens_of(gone)
        removed += len(gone)
        removed += len(_purge(self._access_tokens, now, batch))
        removed += len(_purge(self._initial_tokens, now, batch))
        removed += len(_purge(self._admin_tokens, now, batch))
        return removed

    # Clients ---------------------------------------------------------------------

    async def add_client(self, client: Client) -> None:
        if client.client_id in self._clients:
            raise Conflict(f"client {client.client_id!r} already exists")
        self._clients[client.client_id] = client

    async def get_client(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    async def list_clients(self) -> list[Client]:
        return sorted(self._clients.values(), key=lambda c: (c.name, c.client_id))

    async def delete_client(self, client_id: str) -> bool:
        if self._clients.pop(client_id, None) is None:
            return False
        self._codes = {h: c for h, c in self._codes.items() if c.client_id != client_id}
        self._consents = {k: c for k, c in self._consents.items() if k[1] != client_id}
        self._registration_tokens.pop(client_id, None)
        gone = {f.family_id for f in self._families.values() if f.client_id == client_id}
        self._families = {i: f for i, f in self._families.items() if i not in gone}
        self._drop_tokens_of(gone)
        return True

    def _drop_tokens_of(self, family_ids: set[str]) -> None:
        self._refresh_tokens = {
            h: t for h, t in self._refresh_tokens.items() if t.family_id not in family_ids
        }

    async def set_client_secret(
        self,
        client_id: str,
        secret_hash: str,
        *,
        previous_secret_hash: str | None = None,
        previous_secret_expires_at: int | None = None,
    ) -> bool:
        client = self._clients.get(client_id)
        if client is None:
            return False
        self._clients[client_id] = dataclasses.replace(
            client,
            secret_hash=secret_hash,
            previous_secret_hash=previous_secret_hash,
            previous_secret_expires_at=previous_secret_expires_at,
        )
        return True

    async def update_client(self, client: Client) -> bool:
        if client.client_id not in self._clients:
            return False
        self._clients[client.client_id] = client
        return True

    # Registration tokens (RFC 7591 §3, RFC 7592) ------------------------------------

    async def add_initial_access_token(self, token: InitialAccessToken) -> None:
        if token.token_hash in self._initial_tokens:
            raise Conflict("initial access token already exists")
        self._initial_tokens[token.token_hash] = token

    async def get_initial_access_token(self, token_hash: str) -> InitialAccessToken | None:
        return self._initial_tokens.get(token_hash)

    async def use_initial_access_token(
        self, token_hash: str, now: int
    ) -> InitialAccessToken | None:
        token = self._initial_tokens.get(token_hash)
        if token is None or token.uses_left <= 0 or token.expires_at <= now:
            return None
        spent = dataclasses.replace(token, uses_left=token.uses_left - 1)
        self._initial_tokens[token_hash] = spent
        return spent

    async def set_registration_access_token(self, token: RegistrationAccessToken) -> None:
        if token.client_id not in self._clients:
            raise Conflict(f"no client {token.client_id!r}")
        self._registration_tokens[token.client_id] = token

    async def get_registration_access_token(self, client_id: str) -> RegistrationAccessToken | None:
        return self._registration_tokens.get(client_id)

    async def replace_registration_access_token(
        self, client_id: str, old_hash: str, token: RegistrationAccessToken
    ) -> bool:
        current = self._registration_tokens.get(client_id)
        if current is None or current.token_hash != old_hash:
            return False
        self._registration_tokens[client_id] = token
        return True

    # Users -----------------------------------------------------------------------

    async def add_user(self, user: User) -> None:
        if user.user_id in self._users or self._by_username(user.username) is not None:
            raise Conflict(f"user {user.username!r} (or id {user.user_id!r}) already exists")
        self._users[user.user_id] = user

    async def get_user(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    async def get_user_by_username(self, username: str) -> User | None:
        return self._by_username(username)

    def _by_username(self, username: str) -> User | None:
        return next((u for u in self._users.values() if u.username == username), None)

    async def list_users(self) -> list[User]:
        return sorted(self._users.values(), key=lambda u: u.username)

    async def delete_user(self, username: str) -> bool:
        user = self._by_username(username)
        if user is None:
            return False
        uid = user.user_id
        del self._users[uid]
        self._codes = {h: c for h, c in self._codes.items() if c.user_id != uid}
        self._consents = {k: c for k, c in self._consents.items() if k[0] != uid}
        self._forget_clients_of(s for s in self._sessions.values() if s.user_id == uid)
        self._sessions = {h: s for h, s in self._sessions.items() if s.user_id != uid}
        return True

    async def set_password(self, username: str, password_hash: str) -> bool:
        user = self._by_username(username)
        if user is None:
            return False
        self._users[user.user_id] = dataclasses.replace(user, password_hash=password_hash)
        return True

    # APIs ------------------------------------------------------------------------

    async def add_api(self, api: Api) -> None:
        if api.identifier in self._apis:
            raise Conflict(f"API {api.identifier!r} already exists")
        for scope in sorted(api.scopes):
            if scope in self._scope_owner:
                owner = self._scope_owner[scope]
                raise Conflict(f"scope {scope!r} belongs to API {owner!r}")
        if len(set(api.scopes)) != len(api.scopes):
            raise Conflict(f"API {api.identifier!r} lists a scope twice")
        self._apis[api.identifier] = api
        self._scope_owner.update(dict.fromkeys(api.scopes, api.identifier))

    async def get_api(self, identifier: str) -> Api | None:
        return self._apis.get(identifier)

    async def list_apis(self) -> list[Api]:
        return sorted(self._apis.values(), key=lambda a: a.identifier)

    async def delete_api(self, identifier: str) -> bool:
        api = self._apis.pop(identifier, None)
        if api is None:
            return False
        for scope in api.scopes:
            del self._scope_owner[scope]
        return True

    # Authorization codes -----------------------------------------------------------

    async def add_code(self, code: AuthorizationCode) -> None:
        if (
            code.code_hash in self._codes
            or code.client_id not in self._clients
            or code.user_id not in self._users
        ):
            raise Conflict("authorization code exists, or its client or user does not")
        self._codes[code.code_hash] = code

    async def consume_code(self, code_hash: str, now: int) -> AuthorizationCode | None:
        code = self._codes.get(code_hash)
        if code is None or code.used_at is not None or code.expires_at <= now:
            return None
        used = dataclasses.replace(code, used_at=now)
        self._codes[code_hash] = used
        return used

    async def get_code(self, code_hash: str) -> AuthorizationCode | None:
        return self._codes.get(code_hash)

    async def record_issued(
        self,
        code_hash: str,
        jti: str,
        exp: int,
        *,
        family: TokenFamily | None = None,
        first_token: RefreshToken | None = None,
    ) -> None:
        if family is not None and first_token is not None:
            await self.add_refresh_token(first_token, family=family)
        code = self._codes.get(code_hash)
        if code is not None:
            family_id = None if family is None else family.family_id
            self._codes[code_hash] = dataclasses.replace(
                code, issued_jti=jti, issued_exp=exp, family_id=family_id
            )

    async def purge_codes(self, now: int) -> int:
        return len(_purge(self._codes, now, len(self._codes) + 1))

    # Consents ----------------------------------------------------------------------

    async def get_consent(self, user_id: str, client_id: str) -> Consent | None:
        return self._consents.get((user_id, client_id))

    async def save_consent(self, consent: Consent) -> None:
        if consent.user_id not in self._users or consent.client_id not in self._clients:
            raise Conflict("consent names a user or client that does not exist")
        self._consents[(consent.user_id, consent.client_id)] = consent

    # Sessions and interactions ----------------------------------------------------------

    async def add_session(self, session: Session) -> None:
        if (
            session.session_hash in self._sessions
            or session.user_id not in self._users
            or (session.sid and self._by_sid(session.sid) is not None)
        ):
            raise Conflict("session (or its sid) exists, or its user does not")
        self._sessions[session.session_hash] = session

    async def get_session(self, session_hash: str) -> Session | None:
        return self._sessions.get(session_hash)

    async def delete_session(self, session_hash: str) -> None:
        session = self._sessions.pop(session_hash, None)
        if session is not None:
            self._forget_clients_of([session])

    def _forget_clients_of(self, sessions: Iterable[Session]) -> None:
        for session in list(sessions):
            self._session_clients.pop(session.sid, None)

    def _by_sid(self, sid: str) -> Session | None:
        return next((s for s in self._sessions.values() if sid and s.sid == sid), None)

    async def touch_session(self, session_hash: str, now: int) -> None:
        """Set ``last_active_at``; it never moves back (concurrent requests)."""
        session = self._sessions.get(session_hash)
        if session is not None and session.last_active_at < now:
            self._sessions[session_hash] = dataclasses.replace(session, last_active_at=now)

    async def get_session_by_sid(self, sid: str) -> Session | None:
        return self._by_sid(sid)

    async def list_sessions(self, user_id: str | None = None) -> list[Session]:
        found = [s for s in self._sessions.values() if user_id in (None, s.user_id)]
        return sorted(found, key=lambda s: (-s.created_at, s.session_hash))

    async def add_session_client(self, sid: str, client_id: str) -> None:
        if self._by_sid(sid) is None:
            raise Conflict("no session has this sid")
        self._session_clients.setdefault(sid, set()).add(client_id)

    async def session_clients(self, sid: str) -> list[str]:
        return sorted(self._session_clients.get(sid, ()))

    async def add_interaction(self, interaction: Interaction) -> None:
        if interaction.interaction_hash in self._interactions:
            raise Conflict("interaction already exists")
        self._interactions[interaction.interaction_hash] = copy.deepcopy(interaction)

    async def get_interaction(self, interaction_hash: str) -> Interaction | None:
        return copy.deepcopy(self._interactions.get(interaction_hash))

    async def delete_interaction(self, interaction_hash: str) -> None:
        self._interactions.pop(interaction_hash, None)

    async def take_interaction(self, interaction_hash: str, now: int) -> Interaction | None:
        taken = self._interactions.pop(interaction_hash, None)
        return None if taken is None or taken.expires_at <= now else taken

    # Admin tokens (interaction API) -------------------------------------------------------

    async def add_admin_token(self, token: AdminToken) -> None:
        if token.token_id in self._admin_tokens or any(
            t.token_hash == token.token_hash for t in self._admin_tokens.values()
        ):
            raise Conflict("admin token already exists")
        self._admin_tokens[token.token_id] = token

    async def get_admin_token(self, token_hash: str) -> AdminToken | None:
        return next((t for t in self._admin_tokens.values() if t.token_hash == token_hash), None)

    async def list_admin_tokens(self) -> list[AdminToken]:
        return sorted(self._admin_tokens.values(), key=lambda t: (-t.created_at, t.token_id))

    async def delete_admin_token(self, token_id: str) -> bool:
        return self._admin_tokens.pop(token_id, None) is not None

    # Signing keys ----------------------------------------------------------------------

    async def add_key(self, key: SigningKey) -> None:
        if key.kid in self._keys:
            raise Conflict(f"key {key.kid!r} already exists")
        if key.generation is not None and any(
            (k.alg, k.generation) == (key.alg, key.generation) for k in self._keys.values()
        ):
            raise Conflict(
                f"key {key.kid!r} or {key.alg} key generation {key.generation} already exists"
            )
        self._keys[key.kid] = copy.deepcopy(key)

    async def list_keys(self) -> list[SigningKey]:
        newest_first = sorted(self._keys.values(), key=lambda k: (-k.created_at, k.kid))
        return copy.deepcopy(newest_first)

    async def set_key_status(self, kid: str, status: str, at: int) -> bool:
        """Set ``status``; ``retired_at`` becomes ``at``, or None when back to active."""
        key = self._keys.get(kid)
        if key is None:
            return False
        retired_at = None if status == "active" else at
        self._keys[kid] = dataclasses.replace(key, status=status, retired_at=retired_at)
        return True

    async def delete_retired_keys(self, retired_before: int) -> int:
        gone = [
            kid
            for kid, key in self._keys.items()
            if key.status == "retired"
            and key.retired_at is not None
            and key.retired_at <= retired_before
        ]
        for kid in gone:
            del self._keys[kid]
        return len(gone)

    async def replace_key_ciphertexts(
        self, replacements: Mapping[str, tuple[bytes, bytes]]
    ) -> None:
        for kid, (old, _new) in replacements.items():  # check all first: all or nothing
            key = self._keys.get(kid)
            if key is None or key.private_ciphertext != old:
                raise Conflict(f"key {kid!r} is gone or was changed meanwhile")
        for kid, (_old, new) in replacements.items():
            self._keys[kid] = dataclasses.replace(self._keys[kid], private_ciphertext=new)

    # Revocations -----------------------------------------------------------------------

    async def revoke(self, revocation: Revocation) -> None:
        # The first revocation of a jti wins; the store numbers it, as a database would.
        if revocation.jti not in self._revocations:
            seq = next(self._revocation_seq)
            self._revocations[revocation.jti] = dataclasses.replace(revocation, seq=seq)

    async def is_revoked(self, jti: str, now: int) -> bool:
        revocation = self._revocations.get(jti)
        return revocation is not None and revocation.expires_at > now

    async def revocations_since(self, cursor: int, now: int, limit: int) -> list[Revocation]:
        return self._feed(lambda r: r.seq > cursor, now, limit)

    async def revocations_between(self, start: int, now: int, limit: int) -> list[Revocation]:
        return self._feed(lambda r: r.revoked_at >= start, now, limit)

    def _feed(self, wanted: Callable[[Revocation], bool], now: int, limit: int) -> list[Revocation]:
        found = sorted(
            (r for r in self._revocations.values() if r.expires_at > now and wanted(r)),
            key=lambda r: r.seq,
        )
        return found[: max(limit, 0)]

    # Refresh token families ---------------------------------------------------------------

    async def add_family(self, family: TokenFamily) -> None:
        if family.family_id in self._families or family.client_id not in self._clients:
            raise Conflict(f"token family {family.family_id!r} exists, or its client does not")
        self._families[family.family_id] = family

    async def get_family(self, family_id: str) -> TokenFamily | None:
        return self._families.get(family_id)

    async def revoke_family(self, family_id: str, now: int, reason: str) -> bool:
        family = self._families.get(family_id)
        if family is None or family.revoked_at is not None:
            return False
        self._families[family_id] = dataclasses.replace(
            family, revoked_at=now, revoked_reason=reason
        )
        return True

    async def families_of(
        self,
        *,
        client_id: str | None = None,
        subject: str | None = None,
        sid: str | None = None,
    ) -> list[TokenFamily]:
        if client_id is None and subject is None and sid is None:
            raise ValueError("families_of needs a client_id, a subject or a sid")
        found = [
            f
            for f in self._families.values()
            if f.revoked_at is None
            and client_id in (None, f.client_id)
            and subject in (None, f.subject)
            and sid in (None, f.sid)
        ]
        return sorted(found, key=lambda f: (f.created_at, f.family_id))

    # Refresh tokens ------------------------------------------------------------------------

    async def add_refresh_token(
        self, token: RefreshToken, *, family: TokenFamily | None = None
    ) -> None:
        if token.token_hash in self._refresh_tokens:
            raise Conflict("refresh token exists")
        if family is None:
            if token.family_id not in self._families:
                raise Conflict("the refresh token's family does not exist")
        elif family.family_id != token.family_id:
            raise Conflict("the refresh token belongs to another family")
        else:
            await self.add_family(family)  # checked first: nothing is stored on a conflict
        self._refresh_tokens[token.token_hash] = token

    async def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        return self._refresh_tokens.get(token_hash)

    async def rotate_refresh_token(
        self, consume: str, successor: RefreshToken, now: int, *, replaces: str
    ) -> RefreshToken | None:
        token = self._refresh_tokens.get(consume)
        if token is None or token.used_at is not None or token.expires_at <= now:
            return None
        family = self._families.get(token.family_id)
        if family is None or not family.live_at(now):
            return None
        clash = successor.token_hash in self._refresh_tokens
        if clash or successor.family_id not in self._families:
            raise Conflict("refresh token exists, or its family does not")
        used = dataclasses.replace(token, used_at=now)
        self._refresh_tokens[consume] = used
        self._refresh_tokens[successor.token_hash] = successor
        replaced = self._refresh_tokens.get(replaces)
        if replaced is not None:
            self._refresh_tokens[replaces] = dataclasses.replace(
                replaced, replaced_by=successor.token_hash
            )
        return used

    # Access token records --------------------------------------------------------------------

    async def record_access_token(self, record: AccessTokenRecord) -> None:
        if record.jti in self._access_tokens:
            raise Conflict(f"access token {record.jti!r} is already recorded")
        self._access_tokens[record.jti] = record

    async def record_access_tokens(self, records: Iterable[AccessTokenRecord]) -> None:
        batch = list(records)
        jtis = [r.jti for r in batch]
        if len(set(jtis)) != len(jtis) or any(j in self._access_tokens for j in jtis):
            raise Conflict("an access token in the batch is already recorded")
        for record in batch:
            self._access_tokens[record.jti] = record

    async def get_access_token(self, jti: str) -> AccessTokenRecord | None:
        return self._access_tokens.get(jti)

    async def access_tokens_of(
        self,
        now: int,
        *,
        family_id: str | None = None,
        client_id: str | None = None,
        subject: str | None = None,
    ) -> list[AccessTokenRecord]:
        if family_id is None and client_id is None and subject is None:
            raise ValueError("access_tokens_of needs a family_id, client_id or subject")
        found = [
            r
            for r in self._access_tokens.values()
            if r.expires_at > now
            and family_id in (None, r.family_id)
            and client_id in (None, r.client_id)
            and subject in (None, r.subject)
        ]
        return sorted(found, key=lambda r: (r.issued_at, r.jti))
