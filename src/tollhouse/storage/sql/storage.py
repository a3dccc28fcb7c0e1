"""The SQL adapter: every storage port on SQLAlchemy Core, for SQLite and PostgreSQL.

One ``SqlStorage`` serves both databases. Dialect-specific are the upserts (both
dialects spell ``ON CONFLICT`` the same way) and, on PostgreSQL, the code's record and
the refresh rotation written as one statement each (data-modifying ``WITH``; SQLite
runs the same writes as a transaction, which costs it no round trip). Engines are
configured in ``sql_engine``, migrations run by ``sql_migrate``, rows mapped in
``sql_rows``, statements run by ``sql_runner``; the token stores (revocations, refresh
tokens, access token records) live in ``sql_tokens``.

Uniqueness and references are left to the database: an insert that breaks a key or
a foreign key raises :class:`~tollhouse.errors.Conflict`, never a driver error, and no
write is a check-then-set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Column, Connection, Table, bindparam, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ColumnElement

from tollhouse.errors import Conflict
from tollhouse.models import (
    Api,
    AuthorizationCode,
    Client,
    Consent,
    Interaction,
    RefreshToken,
    Session,
    SigningKey,
    TokenFamily,
    User,
)
from tollhouse.storage.sql import rows
from tollhouse.storage.sql.admin import SqlAdminTokens
from tollhouse.storage.sql.engine import async_url, create_engine
from tollhouse.storage.sql.migrate import migrate
from tollhouse.storage.sql.migrate import migrate as migrate_to_head
from tollhouse.storage.sql.prepared import Prepared
from tollhouse.storage.sql.registration import SqlRegistrationTokens
from tollhouse.storage.sql.revocation_mirror import DataVersion, RevocationMirror
from tollhouse.storage.sql.runner import consume_once, expired_batch, inserting, prefixed
from tollhouse.storage.sql.schema import (
    access_tokens,
    admin_tokens,
    api_scopes,
    apis,
    authorization_codes,
    clients,
    consents,
    initial_access_tokens,
    interactions,
    refresh_tokens,
    revocations,
    session_clients,
    sessions,
    signing_keys,
    token_families,
    users,
)
from tollhouse.storage.sql.tokens import REFRESH_TOKEN_CONFLICT, SqlTokenStores

__all__ = ["SqlStorage", "async_url", "migrate", "open_storage"]

codes = authorization_codes
sid_clients = session_clients
"""Named apart from the ``SqlStorage.session_clients`` method."""

EXPIRING: tuple[tuple[Table, Column[Any]], ...] = (
    (codes, codes.c.code_hash),
    # A purged session takes its session_clients rows with it (ON DELETE CASCADE,
    # a handful per session), and those are not counted.
    (sessions, sessions.c.session_hash),
    (interactions, interactions.c.interaction_hash),
    (revocations, revocations.c.seq),
    (refresh_tokens, refresh_tokens.c.token_hash),
    # After the tokens: a family past its absolute expiry takes its remaining
    # tokens with it (ON DELETE CASCADE), and those are not counted.
    (token_families, token_families.c.family_id),
    (access_tokens, access_tokens.c.jti),
    (initial_access_tokens, initial_access_tokens.c.token_hash),
    (admin_tokens, admin_tokens.c.token_id),
)
"""The tables ``purge_expired`` empties of expired rows, each with its key."""


async def open_storage(url: str, *, migrate: bool = True) -> SqlStorage:
    """Open the database at ``url`` (sync or async form), migrating it to head first."""
    if migrate:
        await migrate_to_head(url)
    return SqlStorage(create_engine(url))


# The statements of every grant, built once (values come as bind parameters).
GET_CLIENT = select(clients).where(clients.c.client_id == bindparam("client_id"))
GET_CODE = Prepared(select(codes).where(codes.c.code_hash == bindparam("code_hash")))
CONSUME_CODE = Prepared(consume_once(codes, codes.c.code_hash))
_RECORD_ISSUED = (
    update(codes)
    .where(codes.c.code_hash == bindparam("hash"))
    .values(
        issued_jti=bindparam("jti"),
        issued_exp=bindparam("exp"),
        family_id=bindparam("family"),
    )
)
RECORD_ISSUED = Prepared(_RECORD_ISSUED)


RECORD_ISSUED_WITH_FAMILY = Prepared(
    _RECORD_ISSUED.add_cte(
        inserting(token_families, "family_"), inserting(refresh_tokens, "token_")
    )
)
"""PostgreSQL only: the new family, its first refresh token and the code's record in one
statement (data-modifying ``WITH`` clauses), which is its own transaction: one round
trip where ``BEGIN``, three statements and ``COMMIT`` took five. The foreign keys
(token → family) are checked at the end of the statement, when both rows exist."""


class SqlStorage(SqlTokenStores, SqlRegistrationTokens, SqlAdminTokens):
    """Implements :class:`~tollhouse.storage.ports.Storage` on an ``AsyncEngine``."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        path = self._sqlite_path
        self._revocation_mirror = (
            None
            if path is None
            else RevocationMirror(DataVersion(path), self.revocations_since, super().is_revoked)
        )

    async def is_revoked(self, jti: str, now: int) -> bool:
        """On a SQLite file, from memory while nothing new was committed
        (revocation_mirror.py); otherwise one query."""
        if self._revocation_mirror is not None:
            return await self._revocation_mirror.is_revoked(jti, now)
        return await super().is_revoked(jti, now)

    async def ping(self) -> None:
        await self._unit(lambda connection: connection.execute(text("SELECT 1")), write=False)

    async def close(self) -> None:
        if self._revocation_mirror is not None:
            self._revocation_mirror.close()
        await self._dispose()

    async def purge_expired(self, now: int, batch: int = 1000) -> int:
        """Delete at most ``batch`` expired rows per table, one short transaction per
        table; how many. Call again while it returns more than zero."""
        if batch < 1:
            raise ValueError("batch must be at least 1")
        removed = 0
        for table, key in EXPIRING:
            removed += await self._count(expired_batch(table, key, now, batch))
        return removed

    # Clients ---------------------------------------------------------------------

    async def add_client(self, client: Client) -> None:
        await self._insert(
            clients,
            rows.client_row(client),
            f"client {client.client_id!r} already exists",
        )

    async def get_client(self, client_id: str) -> Client | None:
        row = await self._one(GET_CLIENT, {"client_id": client_id})
        return None if row is None else rows.to_client(row)

    async def list_clients(self) -> list[Client]:
        found = await self._all(select(clients).order_by(clients.c.name, clients.c.client_id))
        return [rows.to_client(row) for row in found]

    async def delete_client(self, client_id: str) -> bool:
        return await self._count(delete(clients).where(clients.c.client_id == client_id)) > 0

    async def set_client_secret(
        self,
        client_id: str,
        secret_hash: str,
        *,
        previous_secret_hash: str | None = None,
        previous_secret_expires_at: int | None = None,
    ) -> bool:
        statement = (
            update(clients)
            .where(clients.c.client_id == client_id)
            .values(
                secret_hash=secret_hash,
                previous_secret_hash=previous_secret_hash,
                previous_secret_expires_at=previous_secret_expires_at,
            )
        )
        return await self._count(statement) > 0

    async def update_client(self, client: Client) -> bool:
        values = rows.client_row(client)
        del values["client_id"]
        statement = update(clients).where(clients.c.client_id == client.client_id).values(values)
        return await self._count(statement) > 0

    # Users -----------------------------------------------------------------------

    async def add_user(self, user: User) -> None:
        await self._insert(
            users,
            rows.user_row(user),
            f"user {user.username!r} (or id {user.user_id!r}) already exists",
        )

    async def get_user(self, user_id: str) -> User | None:
        row = await self._one(select(users).where(users.c.user_id == user_id))
        return None if row is None else rows.to_user(row)

    async def get_user_by_username(self, username: str) -> User | None:
        row = await self._one(select(users).where(users.c.username == username))
        return None if row is None else rows.to_user(row)

    async def list_users(self) -> list[User]:
        found = await self._all(select(users).order_by(users.c.username))
        return [rows.to_user(row) for row in found]

    async def delete_user(self, username: str) -> bool:
        return await self._count(delete(users).where(users.c.username == username)) > 0

    async def set_password(self, username: str, password_hash: str) -> bool:
        statement = (
            update(users).where(users.c.username == username).values(password_hash=password_hash)
        )
        return await self._count(statement) > 0

    # APIs ------------------------------------------------------------------------

    async def add_api(self, api: Api) -> None:
        scope_rows = [
            {"scope": scope, "api_identifier": api.identifier, "position": position}
            for position, scope in enumerate(api.scopes)
        ]
        api_row = insert(apis).values(
            identifier=api.identifier, name=api.name, created_at=api.created_at
        )

        def add(connection: Connection) -> None:
            connection.execute(api_row)
            if scope_rows:
                connection.execute(insert(api_scopes), scope_rows)

        try:
            await self._unit(add, write=True)
        except IntegrityError as exc:
            raise await self._api_conflict(api) from exc

    async def _api_conflict(self, api: Api) -> Conflict:
        """Name what clashed, after the failed insert rolled back."""
        if await self.get_api(api.identifier) is not None:
            return Conflict(f"API {api.identifier!r} already exists")
        owned = await self._all(
            select(api_scopes.c.scope, api_scopes.c.api_identifier)
            .where(api_scopes.c.scope.in_(api.scopes))
            .order_by(api_scopes.c.scope)
        )
        if owned:
            row = owned[0]
            return Conflict(f"scope {row['scope']!r} belongs to API {row['api_identifier']!r}")
        return Conflict(f"API {api.identifier!r} lists a scope twice")

    async def get_api(self, identifier: str) -> Api | None:
        found = await self._apis(apis.c.identifier == identifier)
        return found[0] if found else None

    async def list_apis(self) -> list[Api]:
        return await self._apis(None)

    async def _apis(self, where: ColumnElement[bool] | None) -> list[Api]:
        api_query = select(apis).order_by(apis.c.identifier)
        scope_query = select(api_scopes).order_by(api_scopes.c.position)
        if where is not None:
            api_query = api_query.where(where)
            scope_query = scope_query.join(apis).where(where)

        def read(connection: Connection) -> tuple[list[rows.Row], list[rows.Row]]:
            return (
                list(connection.execute(api_query).mappings().all()),
                list(connection.execute(scope_query).mappings().all()),
            )

        api_rows, scope_rows = await self._unit(read, write=False)
        scopes: dict[str, list[str]] = {}
        for row in scope_rows:
            scopes.setdefault(row["api_identifier"], []).append(row["scope"])
        return [
            Api(
                identifier=row["identifier"],
                scopes=tuple(scopes.get(row["identifier"], ())),
                created_at=row["created_at"],
                name=row["name"],
            )
            for row in api_rows
        ]

    async def delete_api(self, identifier: str) -> bool:
        return await self._count(delete(apis).where(apis.c.identifier == identifier)) > 0

    # Authorization codes -----------------------------------------------------------

    async def add_code(self, code: AuthorizationCode) -> None:
        await self._insert(
            codes,
            rows.code_row(code),
            "authorization code exists, or its client or user does not",
        )

    async def consume_code(self, code_hash: str, now: int) -> AuthorizationCode | None:
        # One statement, so two processes redeeming the same code cannot both win.
        row = await self._write_one(CONSUME_CODE, {"hash": code_hash, "now": now})
        return None if row is None else rows.to_code(row)

    async def get_code(self, code_hash: str) -> AuthorizationCode | None:
        row = await self._one(GET_CODE, {"code_hash": code_hash})
        return None if row is None else rows.to_code(row)

    async def record_issued(
        self,
        code_hash: str,
        jti: str,
        exp: int,
        *,
        family: TokenFamily | None = None,
        first_token: RefreshToken | None = None,
    ) -> None:
        family_id = None if family is None else family.family_id
        params = {"hash": code_hash, "jti": jti, "exp": exp, "family": family_id}
        if self._on_postgres:
            statement = RECORD_ISSUED
            if family is not None and first_token is not None:
                statement = RECORD_ISSUED_WITH_FAMILY
                params |= prefixed("family_", rows.family_row(family))
                params |= prefixed("token_", rows.refresh_token_row(first_token))
            try:
                await self._write_one(statement, params)
            except IntegrityError as exc:
                raise Conflict(REFRESH_TOKEN_CONFLICT) from exc
            return
        add_tokens = (
            None
            if family is None or first_token is None
            else self.refresh_token_statements(first_token, family=family)
        )

        def record(connection: Connection) -> None:
            if add_tokens is not None:
                add_tokens(connection)
            RECORD_ISSUED.run(connection, params)

        await self._write_refresh_tokens(record)

    async def purge_codes(self, now: int) -> int:
        return await self._count(delete(codes).where(codes.c.expires_at <= now))

    # Consents ----------------------------------------------------------------------

    async def get_consent(self, user_id: str, client_id: str) -> Consent | None:
        row = await self._one(
            select(consents).where(consents.c.user_id == user_id, consents.c.client_id == client_id)
        )
        return None if row is None else rows.to_consent(row)

    async def save_consent(self, consent: Consent) -> None:
        values = rows.consent_row(consent)
        statement = self._upsert(consents, values).on_conflict_do_update(
            index_elements=[consents.c.user_id, consents.c.client_id],
            set_={"scopes": values["scopes"], "granted_at": values["granted_at"]},
        )
        try:
            await self._count(statement)
        except IntegrityError as exc:
            raise Conflict("consent names a user or client that does not exist") from exc

    # Sessions and interactions ----------------------------------------------------------

    async def add_session(self, session: Session) -> None:
        await self._insert(
            sessions,
            rows.session_row(session),
            "session (or its sid) exists, or its user does not",
        )

    async def get_session(self, session_hash: str) -> Session | None:
        row = await self._one(select(sessions).where(sessions.c.session_hash == session_hash))
        return None if row is None else rows.to_session(row)

    async def delete_session(self, session_hash: str) -> None:
        # Its session_clients rows go with it (ON DELETE CASCADE).
        await self._count(delete(sessions).where(sessions.c.session_hash == session_hash))

    async def touch_session(self, session_hash: str, now: int) -> None:
        """Set ``last_active_at``; it never moves back (concurrent requests)."""
        await self._count(
            update(sessions)
            .where(sessions.c.session_hash == session_hash, sessions.c.last_active_at < now)
            .values(last_active_at=now)
        )

    async def get_session_by_sid(self, sid: str) -> Session | None:
        if not sid:
            return None
        row = await self._one(select(sessions).where(sessions.c.sid == sid))
        return None if row is None else rows.to_session(row)

    async def list_sessions(self, user_id: str | None = None) -> list[Session]:
        query = select(sessions).order_by(sessions.c.created_at.desc(), sessions.c.session_hash)
        if user_id is not None:
            query = query.where(sessions.c.user_id == user_id)
        return [rows.to_session(row) for row in await self._all(query)]

    async def add_session_client(self, sid: str, client_id: str) -> None:
        statement = self._upsert(sid_clients, {"sid": sid, "client_id": client_id})
        try:
            await self._count(
                statement.on_conflict_do_nothing(
                    index_elements=[sid_clients.c.sid, sid_clients.c.client_id]
                )
            )
        except IntegrityError as exc:
            raise Conflict("no session has this sid") from exc

    async def session_clients(self, sid: str) -> list[str]:
        # Sorted here rather than by the database, whose collation may differ.
        found = await self._all(select(sid_clients.c.client_id).where(sid_clients.c.sid == sid))
        return sorted(row["client_id"] for row in found)

    async def add_interaction(self, interaction: Interaction) -> None:
        await self._insert(
            interactions, rows.interaction_row(interaction), "interaction already exists"
        )

    async def get_interaction(self, interaction_hash: str) -> Interaction | None:
        row = await self._one(
            select(interactions).where(interactions.c.interaction_hash == interaction_hash)
        )
        return None if row is None else rows.to_interaction(row)

    async def delete_interaction(self, interaction_hash: str) -> None:
        await self._count(
            delete(interactions).where(interactions.c.interaction_hash == interaction_hash)
        )

    async def take_interaction(self, interaction_hash: str, now: int) -> Interaction | None:
        # One DELETE … RETURNING: two requests completing one interaction, one wins.
        row = await self._write_one(
            delete(interactions)
            .where(interactions.c.interaction_hash == interaction_hash)
            .returning(*interactions.c)
        )
        if row is None or row["expires_at"] <= now:
            return None
        return rows.to_interaction(row)

    # Signing keys ----------------------------------------------------------------------

    async def add_key(self, key: SigningKey) -> None:
        await self._insert(signing_keys, rows.key_row(key), _key_conflict(key))

    async def list_keys(self) -> list[SigningKey]:
        found = await self._all(
            select(signing_keys).order_by(signing_keys.c.created_at.desc(), signing_keys.c.kid)
        )
        return [rows.to_key(row) for row in found]

    async def set_key_status(self, kid: str, status: str, at: int) -> bool:
        """Set ``status``; ``retired_at`` becomes ``at``, or None when back to active."""
        retired_at = None if status == "active" else at
        statement = (
            update(signing_keys)
            .where(signing_keys.c.kid == kid)
            .values(status=status, retired_at=retired_at)
        )
        return await self._count(statement) > 0

    async def delete_retired_keys(self, retired_before: int) -> int:
        return await self._count(
            delete(signing_keys).where(
                signing_keys.c.status == "retired",
                signing_keys.c.retired_at <= retired_before,
            )
        )

    async def replace_key_ciphertexts(
        self, replacements: Mapping[str, tuple[bytes, bytes]]
    ) -> None:
        """One transaction; each row changes only if it still holds the old ciphertext."""

        def replace(connection: Connection) -> None:
            for kid, (old, new) in replacements.items():
                result = connection.execute(
                    update(signing_keys)
                    .where(signing_keys.c.kid == kid, signing_keys.c.private_ciphertext == old)
                    .values(private_ciphertext=new)
                )
                if result.rowcount != 1:
                    # Leaving the transaction with an exception rolls every update back.
                    raise Conflict(f"key {kid!r} is gone or was changed meanwhile")

        await self._unit(replace, write=True)


def _key_conflict(key: SigningKey) -> str:
    if key.generation is None:
        return f"key {key.kid!r} already exists"
    return f"key {key.kid!r} or {key.alg} key generation {key.generation} already exists"
