"""The SQL adapter's account stores: clients, users, and the APIs their scopes belong to.

Uniqueness is left to the database: an insert that breaks a key raises
:class:`~tollhouse.errors.Conflict`, and a clashing API is explained after the failed
insert rolled back, never checked first.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement, Executable

from tollhouse.errors import Conflict
from tollhouse.models import Api, Client, User
from tollhouse.storage.sql import rows
from tollhouse.storage.sql.runner import SqlRunner
from tollhouse.storage.sql.schema import api_scopes, apis, change_counters, clients, users

# Built once: every token request looks its client up (values come as bind parameters).
GET_CLIENT = select(clients).where(clients.c.client_id == bindparam("client_id"))

READ_REGISTRY = select(change_counters.c.value).where(change_counters.c.name == "registry")


class SqlAccounts(SqlRunner):
    """Implements ``ClientStore``, ``UserStore`` and ``ApiStore`` of
    :mod:`tollhouse.storage.ports`."""

    # Clients ---------------------------------------------------------------------

    async def add_client(self, client: Client) -> None:
        statement = insert(clients).values(rows.client_row(client))
        try:
            await self._registry_write(statement)
        except IntegrityError as exc:
            raise Conflict(f"client {client.client_id!r} already exists") from exc

    async def get_client(self, client_id: str) -> Client | None:
        row = await self._one(GET_CLIENT, {"client_id": client_id})
        return None if row is None else rows.to_client(row)

    async def list_clients(self) -> list[Client]:
        found = await self._all(select(clients).order_by(clients.c.name, clients.c.client_id))
        return [rows.to_client(row) for row in found]

    async def delete_client(self, client_id: str) -> bool:
        statement = delete(clients).where(clients.c.client_id == client_id)
        return await self._registry_write(statement) > 0

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
        return await self._registry_write(statement) > 0

    async def update_client(self, client: Client) -> bool:
        values = rows.client_row(client)
        del values["client_id"]
        statement = update(clients).where(clients.c.client_id == client.client_id).values(values)
        return await self._registry_write(statement) > 0

    async def registry_version(self) -> int:
        row = await self._one(READ_REGISTRY)
        return 0 if row is None else int(row["value"])

    async def _registry_write(self, statement: Executable) -> int:
        """``statement`` and the registry counter's bump, in one transaction; the
        number of rows ``statement`` touched."""

        bump = self._registry_bump()

        def write(connection: Connection) -> int:
            count: int = connection.execute(statement).rowcount
            if count:
                connection.execute(bump)
            return count

        return await self._unit(write, write=True)

    def _registry_bump(self) -> Executable:
        """Raise the registry counter (ADR 0011), run in the transaction of every write
        to clients or APIs: the caches of every server see it move and drop what they
        hold. An upsert, so a counter row lost (a truncated table) comes back."""
        return self._upsert(
            change_counters, {"name": "registry", "value": 1}
        ).on_conflict_do_update(
            index_elements=[change_counters.c.name],
            set_={"value": change_counters.c.value + 1},
        )

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

    async def upgrade_password_hash(self, user_id: str, verified_hash: str, new_hash: str) -> bool:
        # One conditional UPDATE: the compare and the set are atomic in the database.
        statement = (
            update(users)
            .where(users.c.user_id == user_id, users.c.password_hash == verified_hash)
            .values(password_hash=new_hash)
        )
        return await self._count(statement) > 0

    # APIs ------------------------------------------------------------------------

    async def add_api(self, api: Api) -> None:
        scope_rows = [
            {
                "scope": scope,
                "api_identifier": api.identifier,
                "position": position,
                "description": api.descriptions.get(scope),
            }
            for position, scope in enumerate(api.scopes)
        ]
        api_row = insert(apis).values(
            identifier=api.identifier, name=api.name, created_at=api.created_at
        )

        bump = self._registry_bump()

        def add(connection: Connection) -> None:
            connection.execute(api_row)
            if scope_rows:
                connection.execute(insert(api_scopes), scope_rows)
            connection.execute(bump)

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
        descriptions: dict[str, dict[str, str]] = {}
        for row in scope_rows:
            scopes.setdefault(row["api_identifier"], []).append(row["scope"])
            if row["description"] is not None:
                descriptions.setdefault(row["api_identifier"], {})[row["scope"]] = row[
                    "description"
                ]
        return [
            Api(
                identifier=row["identifier"],
                scopes=tuple(scopes.get(row["identifier"], ())),
                created_at=row["created_at"],
                name=row["name"],
                descriptions=descriptions.get(row["identifier"], {}),
            )
            for row in api_rows
        ]

    async def delete_api(self, identifier: str) -> bool:
        statement = delete(apis).where(apis.c.identifier == identifier)
        return await self._registry_write(statement) > 0
