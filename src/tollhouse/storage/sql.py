"""The SQL adapter: every storage port on SQLAlchemy Core, for SQLite and PostgreSQL.

One ``SqlStorage`` serves both databases; the only dialect-specific statements are the
upserts (both dialects spell ``ON CONFLICT`` the same way). Engines are configured in
``sql_engine``, migrations run by ``sql_migrate``, rows mapped in ``sql_rows``.

Uniqueness and references are left to the database: an insert that breaks a key or
a foreign key raises :class:`~tollhouse.errors.Conflict`, never a driver error, and no
write is a check-then-set.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from tollhouse.errors import Conflict
from tollhouse.models import (
    Api,
    AuthorizationCode,
    Client,
    Consent,
    Interaction,
    Revocation,
    Session,
    SigningKey,
    User,
)
from tollhouse.storage import sql_migrate
from tollhouse.storage import sql_rows as rows
from tollhouse.storage.schema import (
    api_scopes,
    apis,
    authorization_codes,
    clients,
    consents,
    interactions,
    revocations,
    sessions,
    signing_keys,
    users,
)
from tollhouse.storage.sql_engine import async_url, create_engine
from tollhouse.storage.sql_migrate import migrate

__all__ = ["SqlStorage", "async_url", "migrate", "open_storage"]

codes = authorization_codes


async def open_storage(url: str, *, migrate: bool = True) -> SqlStorage:
    """Open the database at ``url`` (sync or async form), migrating it to head first."""
    if migrate:
        await sql_migrate.migrate(url)
    return SqlStorage(create_engine(url))


class SqlStorage:
    """Implements :class:`~tollhouse.storage.ports.Storage` on an ``AsyncEngine``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def ping(self) -> None:
        async with self._engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self._engine.dispose()

    # Clients ---------------------------------------------------------------------

    async def add_client(self, client: Client) -> None:
        await self._insert(
            clients,
            rows.client_row(client),
            f"client {client.client_id!r} already exists",
        )

    async def get_client(self, client_id: str) -> Client | None:
        row = await self._one(select(clients).where(clients.c.client_id == client_id))
        return None if row is None else rows.to_client(row)

    async def list_clients(self) -> list[Client]:
        found = await self._all(select(clients).order_by(clients.c.name, clients.c.client_id))
        return [rows.to_client(row) for row in found]

    async def delete_client(self, client_id: str) -> bool:
        return await self._count(delete(clients).where(clients.c.client_id == client_id)) > 0

    async def set_client_secret(self, client_id: str, secret_hash: str) -> bool:
        statement = (
            update(clients).where(clients.c.client_id == client_id).values(secret_hash=secret_hash)
        )
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
        try:
            async with self._engine.begin() as connection:
                await connection.execute(
                    insert(apis).values(
                        identifier=api.identifier, name=api.name, created_at=api.created_at
                    )
                )
                if scope_rows:
                    await connection.execute(insert(api_scopes), scope_rows)
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

    async def _apis(self, where: Any) -> list[Api]:
        api_query = select(apis).order_by(apis.c.identifier)
        scope_query = select(api_scopes).order_by(api_scopes.c.position)
        if where is not None:
            api_query = api_query.where(where)
            scope_query = scope_query.join(apis).where(where)
        async with self._engine.connect() as connection:
            api_rows = (await connection.execute(api_query)).mappings().all()
            scope_rows = (await connection.execute(scope_query)).mappings().all()
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
        statement = (
            update(codes)
            .where(
                codes.c.code_hash == code_hash,
                codes.c.used_at.is_(None),
                codes.c.expires_at > now,
            )
            .values(used_at=now)
            .returning(*codes.c)
        )
        async with self._engine.begin() as connection:
            row = (await connection.execute(statement)).mappings().first()
        return None if row is None else rows.to_code(row)

    async def get_code(self, code_hash: str) -> AuthorizationCode | None:
        row = await self._one(select(codes).where(codes.c.code_hash == code_hash))
        return None if row is None else rows.to_code(row)

    async def record_issued(self, code_hash: str, jti: str, exp: int) -> None:
        await self._count(
            update(codes)
            .where(codes.c.code_hash == code_hash)
            .values(issued_jti=jti, issued_exp=exp)
        )

    async def purge_codes(self, now: int) -> int:
        return await self._count(delete(codes).where(codes.c.expires_at <= now))

    async def purge_expired(self, now: int) -> int:
        """Delete expired codes, sessions, interactions and revocations; how many."""
        removed = 0
        async with self._engine.begin() as connection:
            for table in (codes, sessions, interactions, revocations):
                result = await connection.execute(delete(table).where(table.c.expires_at <= now))
                removed += result.rowcount
        return removed

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
            "session exists, or its user does not",
        )

    async def get_session(self, session_hash: str) -> Session | None:
        row = await self._one(select(sessions).where(sessions.c.session_hash == session_hash))
        return None if row is None else rows.to_session(row)

    async def delete_session(self, session_hash: str) -> None:
        await self._count(delete(sessions).where(sessions.c.session_hash == session_hash))

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

    # Signing keys ----------------------------------------------------------------------

    async def add_key(self, key: SigningKey) -> None:
        await self._insert(signing_keys, rows.key_row(key), f"key {key.kid!r} already exists")

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

    # Revocations -----------------------------------------------------------------------

    async def revoke(self, revocation: Revocation) -> None:
        statement = self._upsert(revocations, rows.revocation_row(revocation))
        await self._count(statement.on_conflict_do_nothing(index_elements=[revocations.c.jti]))

    async def is_revoked(self, jti: str, now: int) -> bool:
        row = await self._one(
            select(revocations.c.jti).where(
                revocations.c.jti == jti, revocations.c.expires_at > now
            )
        )
        return row is not None

    # Plumbing --------------------------------------------------------------------------

    def _upsert(self, table: Table, values: dict[str, Any]) -> postgresql.Insert | sqlite.Insert:
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(table).values(values)
        return sqlite.insert(table).values(values)

    async def _insert(self, table: Table, values: dict[str, Any], conflict: str) -> None:
        try:
            async with self._engine.begin() as connection:
                await connection.execute(insert(table).values(values))
        except IntegrityError as exc:
            raise Conflict(conflict) from exc

    async def _count(self, statement: Executable) -> int:
        """Run a write in its own transaction; the number of rows it touched."""
        async with self._engine.begin() as connection:
            result = await connection.execute(statement)
        return result.rowcount

    async def _one(self, statement: Executable) -> rows.Row | None:
        async with self._engine.connect() as connection:
            return (await connection.execute(statement)).mappings().first()

    async def _all(self, statement: Executable) -> list[rows.Row]:
        async with self._engine.connect() as connection:
            return list((await connection.execute(statement)).mappings().all())
