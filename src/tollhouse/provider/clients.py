"""Wiring of the registered parties: clients, their secrets and the APIs."""

from __future__ import annotations

from dataclasses import dataclass

from tollhouse.protocol.client_auth import ClientAuthenticator
from tollhouse.provider.core import Core
from tollhouse.provider.parts import hash_gate
from tollhouse.security.client_secrets import ClientSecretHasher, ClientSecretVerifier
from tollhouse.storage.hot_cache import CachedApis, CachedClients, RegistryWatch


@dataclass(frozen=True, slots=True)
class ClientServices:
    client_secrets: ClientSecretVerifier
    clients: CachedClients
    apis: CachedApis
    """Clients and APIs are read on every grant: kept in process until the registry's
    change counter moves, so a change anywhere is seen within a second (hot_cache.py)."""
    authenticator: ClientAuthenticator
    default_scopes: tuple[str, ...] | None
    """What a client registered without ``scope`` may ask for; None: every scope."""


def client_services(core: Core) -> ClientServices:
    settings, storage, clock = core.settings, core.storage, core.clock
    # Digests under a master-key subkey; old argon2id rows still verify (ADR 0006),
    # bounded apart from the users' passwords, so a sign-in flood does not stall /token.
    client_secrets = ClientSecretVerifier(
        hasher=ClientSecretHasher.from_box(core.box, legacy=core.hashers.client_secrets),
        gate=hash_gate(settings),
    )
    ttl = settings.client_cache_ttl
    watch = RegistryWatch(storage)
    clients = CachedClients(storage, watch=watch, ttl=ttl)
    scopes = settings.default_client_scopes
    return ClientServices(
        client_secrets=client_secrets,
        clients=clients,
        apis=CachedApis(storage, watch=watch, ttl=ttl),
        authenticator=ClientAuthenticator(clients=clients, verifier=client_secrets, clock=clock),
        default_scopes=tuple(scopes.split()) if scopes else None,
    )
