"""Wiring of the registered parties: clients, their secrets and the APIs."""

from __future__ import annotations

from dataclasses import dataclass

from tollhouse.algorithms import FAPI2_CLIENT_ALGS
from tollhouse.protocol.api_index import ApiIndexCache
from tollhouse.protocol.client_assertion import AssertionPolicy, AssertionVerifier
from tollhouse.protocol.client_auth import ClientAuthenticator
from tollhouse.protocol.profile import Fapi2Profile
from tollhouse.provider.client_keys import ClientKeySource
from tollhouse.provider.core import Core
from tollhouse.provider.parts import hash_gate
from tollhouse.security.client_secrets import ClientSecretHasher, ClientSecretVerifier
from tollhouse.security.safe_fetch import SafeFetcher
from tollhouse.storage.hot_cache import CachedApis, CachedClients, RegistryWatch


@dataclass(frozen=True, slots=True)
class ClientServices:
    client_secrets: ClientSecretVerifier
    clients: CachedClients
    apis: CachedApis
    """Clients and APIs are read on every grant: kept in process until the registry's
    change counter moves, so a change anywhere is seen within a second (hot_cache.py)."""
    api_index: ApiIndexCache
    """The one index of ``apis`` every endpoint reads: built once per registry load."""
    authenticator: ClientAuthenticator
    keys: ClientKeySource
    """Clients' public keys: registered jwks, or fetched from jwks_uri and cached."""
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
    keys = ClientKeySource(SafeFetcher(core.outbound), storage, clock)
    # The jtis of assertions are kept in the database every instance shares (RFC 7523
    # §3 item 7: an assertion is accepted once, whichever instance receives it).
    assertions = AssertionVerifier(assertion_policy(core), keys, storage, clock, core.events)
    authenticator = ClientAuthenticator(
        clients=clients,
        verifier=client_secrets,
        clock=clock,
        assertions=assertions,
        profile=Fapi2Profile() if settings.profile == "fapi2" else None,
        keys=keys,
    )
    apis = CachedApis(storage, watch=watch, ttl=ttl)
    return ClientServices(
        client_secrets=client_secrets,
        clients=clients,
        apis=apis,
        api_index=ApiIndexCache(apis),
        authenticator=authenticator,
        keys=keys,
        default_scopes=tuple(scopes.split()) if scopes else None,
    )


def assertion_policy(core: Core) -> AssertionPolicy:
    """RFC 7523 §3 item 3: the issuer is the audience; the token endpoint URL too,
    except under the FAPI 2.0 profile (issuer only, no RS256)."""
    issuer, lifetime = core.issuer, core.settings.client_assertion_max_lifetime
    if core.settings.profile == "fapi2":
        return AssertionPolicy(issuer, issuer + "/token", True, FAPI2_CLIENT_ALGS, lifetime)
    return AssertionPolicy(issuer=issuer, token_endpoint=issuer + "/token", max_lifetime=lifetime)
