"""The in-memory account stores: clients, their registration tokens, users and APIs."""

from __future__ import annotations

import dataclasses

from tollhouse.errors import Conflict
from tollhouse.models import (
    Api,
    Client,
    InitialAccessToken,
    RegistrationAccessToken,
    User,
)
from tollhouse.storage.memory.tables import MemoryTables


class MemoryAccounts(MemoryTables):
    """Implements ``ClientStore``, ``RegistrationTokenStore``, ``UserStore`` and
    ``ApiStore`` of :mod:`tollhouse.storage.ports`, and their ``RegistryVersion``."""

    _registry_version = 0

    async def registry_version(self) -> int:
        return self._registry_version

    def _registry_changed(self) -> None:
        self._registry_version += 1

    # Clients ---------------------------------------------------------------------

    async def add_client(self, client: Client) -> None:
        if client.client_id in self._clients:
            raise Conflict(f"client {client.client_id!r} already exists")
        self._clients[client.client_id] = client
        self._registry_changed()

    async def get_client(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    async def list_clients(self) -> list[Client]:
        return sorted(self._clients.values(), key=lambda c: (c.name, c.client_id))

    async def delete_client(self, client_id: str) -> bool:
        if self._clients.pop(client_id, None) is None:
            return False
        self._registry_changed()
        self._codes = {h: c for h, c in self._codes.items() if c.client_id != client_id}
        self._devices = {h: d for h, d in self._devices.items() if d.client_id != client_id}
        self._consents = {k: c for k, c in self._consents.items() if k[1] != client_id}
        self._registration_tokens.pop(client_id, None)
        gone = {f.family_id for f in self._families.values() if f.client_id == client_id}
        self._families = {i: f for i, f in self._families.items() if i not in gone}
        self._drop_tokens_of(gone)
        return True

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
        self._registry_changed()
        return True

    async def update_client(self, client: Client) -> bool:
        if client.client_id not in self._clients:
            return False
        self._clients[client.client_id] = client
        self._registry_changed()
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

    async def upgrade_password_hash(self, user_id: str, verified_hash: str, new_hash: str) -> bool:
        user = self._users.get(user_id)
        if user is None or user.password_hash != verified_hash:
            return False
        self._users[user_id] = dataclasses.replace(user, password_hash=new_hash)
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
        self._registry_changed()

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
        self._registry_changed()
        return True
