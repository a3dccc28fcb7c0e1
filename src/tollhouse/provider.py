"""Composition root of the identity provider: config + stores → endpoints.

Typed constructors everywhere, so a missing piece fails at start-up, not mid-request.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio.to_thread

from tollhouse.clock import Clock, SystemClock
from tollhouse.config import Settings
from tollhouse.key_rotation import KeyRotation, retention_for
from tollhouse.keys import KeyRing, spare_cores
from tollhouse.maintenance import Purger
from tollhouse.observability.audit import AuditTrail
from tollhouse.protocol.client_auth import ClientAuthenticator
from tollhouse.protocol.endpoints.authorize import AuthorizeEndpoint
from tollhouse.protocol.endpoints.interaction import InteractionApi
from tollhouse.protocol.endpoints.introspection import IntrospectionEndpoint
from tollhouse.protocol.endpoints.logout import LogoutEndpoint
from tollhouse.protocol.endpoints.registration import RegistrationEndpoint
from tollhouse.protocol.endpoints.revocation import RevocationEndpoint
from tollhouse.protocol.endpoints.revocation_feed import RevocationFeedEndpoint
from tollhouse.protocol.endpoints.token import TokenEndpoint
from tollhouse.protocol.endpoints.userinfo import UserInfoEndpoint
from tollhouse.protocol.events import NO_EVENTS, Events
from tollhouse.protocol.grants.authorization_code import AuthorizationCodeGrant
from tollhouse.protocol.grants.client_credentials import ClientCredentialsGrant
from tollhouse.protocol.grants.refresh_token import RefreshTokenGrant
from tollhouse.protocol.id_token import IdTokenHintVerifier, IdTokenIssuer
from tollhouse.protocol.login import PasswordLogin
from tollhouse.protocol.logout import SessionTerminator
from tollhouse.protocol.refresh_tokens import RefreshTokenIssuer
from tollhouse.protocol.revocation import Revoker
from tollhouse.protocol.subjects import Subjects
from tollhouse.protocol.token_lookup import TokenLookup
from tollhouse.protocol.tokens import AccessTokenIssuer
from tollhouse.security.client_secrets import ClientSecretHasher, ClientSecretVerifier
from tollhouse.security.login_guard import LoginGuard
from tollhouse.security.master_key import load_master_key
from tollhouse.security.passwords import PasswordHasher
from tollhouse.security.ratelimit import RateLimits, open_rate_limiter
from tollhouse.security.secretbox import SecretBox
from tollhouse.storage.group_commit import GroupCommitRecords
from tollhouse.storage.hot_cache import CachedApis, CachedClients
from tollhouse.storage.ports import ApiStore, RevocationList, Storage


class OffloadedVerifier:
    """Runs argon2 verification in a worker thread so the event loop keeps serving."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher

    async def verify(self, stored_hash: str, secret: str) -> bool:
        return await anyio.to_thread.run_sync(self._hasher.verify, stored_hash, secret)

    async def dummy_verify(self) -> None:
        await anyio.to_thread.run_sync(self._hasher.dummy_verify)


@dataclass(frozen=True, slots=True)
class Hashers:
    users: PasswordHasher
    client_secrets: PasswordHasher
    """Verifies legacy argon2id client-secret rows only; new secrets are SHA-256 digests
    (``Provider.client_secrets``, security/client_secrets.py)."""

    @classmethod
    def production(cls) -> Hashers:
        return cls(PasswordHasher.for_users(), PasswordHasher.for_client_secrets())


@dataclass(frozen=True, slots=True)
class Provider:
    settings: Settings
    issuer: str
    storage: Storage
    clock: Clock
    box: SecretBox
    keyring: KeyRing
    hashers: Hashers
    client_secrets: ClientSecretVerifier
    apis: ApiStore
    """The API list, cached briefly in process (discovery and grants read it often)."""
    authorize: AuthorizeEndpoint
    token: TokenEndpoint
    revocation: RevocationEndpoint
    introspection: IntrospectionEndpoint
    revocation_feed: RevocationFeedEndpoint
    userinfo: UserInfoEndpoint
    logout: LogoutEndpoint
    sessions: SessionTerminator
    subjects: Subjects
    revoker: Revoker
    login: PasswordLogin
    purger: Purger
    key_rotation: KeyRotation
    registration: RegistrationEndpoint
    rate_limits: RateLimits
    login_guard: LoginGuard
    interactions: InteractionApi
    mirrors: tuple[RevocationList, ...] = ()
    events: Events = NO_EVENTS

    async def close(self) -> None:
        self.keyring.close()
        await close_mirrors(self.mirrors)
        await self.rate_limits.limiter.close()
        await self.storage.close()


async def close_mirrors(mirrors: tuple[RevocationList, ...]) -> None:
    """Release the connections of the revocation mirrors (those that hold any)."""
    for mirror in mirrors:
        close = getattr(mirror, "close", None)
        if close is not None:
            await close()


async def revocation_mirrors(settings: Settings) -> tuple[RevocationList, ...]:
    """Where revocations are copied besides the database: Redis when configured."""
    if not settings.redis:
        return ()
    from tollhouse.storage.redis import RedisRevocationList

    return (RedisRevocationList(settings.redis),)


async def build_provider(
    settings: Settings,
    storage: Storage,
    *,
    clock: Clock | None = None,
    hashers: Hashers | None = None,
    mirrors: tuple[RevocationList, ...] | None = None,
    events: Events | None = None,
) -> Provider:
    """Wire every endpoint; loads (and on first start creates) the signing key.

    ``events`` receives the security events (default: the JSON audit trail on the
    ``tollhouse.audit`` logger plus the Prometheus counters)."""
    events = events if events is not None else AuditTrail()
    clock = clock or SystemClock()
    hashers = hashers or Hashers.production()
    issuer = settings.issuer_url
    master = load_master_key(settings.master_key, settings.data_dir)
    box = SecretBox(master.key)
    keyring = KeyRing(
        storage,
        box,
        clock,
        settings.signing_alg,
        settings.key_reload_interval,
        retention=retention_for(settings),
        signing_threads=spare_cores(settings.workers),
        rsa_bits=settings.rsa_key_bits,
    )
    await keyring.load()
    await keyring.ensure_key(settings.signing_alg)
    # OIDC Core §15.1: RS256 must be available for ID Tokens.
    await keyring.ensure_key("RS256")

    if mirrors is None:
        mirrors = await revocation_mirrors(settings)
    # Records of issued access tokens: concurrent grants share one commit (group_commit.py).
    records = GroupCommitRecords(storage)
    access_tokens = AccessTokenIssuer(
        keyring, records, clock, issuer, settings.access_token_ttl, events=events
    )
    refresh_tokens = RefreshTokenIssuer(
        clock,
        settings.refresh_token_ttl,
        settings.refresh_token_absolute_ttl,
        events=events,
    )
    revoker = Revoker(storage, storage, storage, clock, mirrors, events=events)
    lookup = TokenLookup(keyring, storage, clock, issuer)
    subjects = Subjects(box.derive("pairwise-subjects"))
    id_tokens = IdTokenIssuer(
        keyring, subjects, clock, issuer, settings.id_token_ttl, events=events
    )
    hints = IdTokenHintVerifier(keyring, subjects, issuer)
    # SHA-256 digests; older HMAC and argon2id rows still verify (ADR 0006).
    client_secrets = ClientSecretVerifier(
        ClientSecretHasher.from_box(box, legacy=hashers.client_secrets)
    )
    # Clients and APIs are read on every grant: kept briefly in process (hot_cache.py).
    clients = CachedClients(storage, ttl=settings.client_cache_ttl)
    apis = CachedApis(storage, ttl=settings.client_cache_ttl)
    client_auth = ClientAuthenticator(clients, client_secrets, clock)
    default_scopes = (
        tuple(settings.default_client_scopes.split()) if settings.default_client_scopes else None
    )
    authorize = AuthorizeEndpoint(
        clients=clients,
        apis=apis,
        codes=storage,
        consents=storage,
        clock=clock,
        issuer=issuer,
        code_ttl=settings.code_ttl,
        default_client_scopes=default_scopes,
        show_registered_redirect_uris=settings.development_mode,
        id_token_hints=hints,
        sessions=storage,
    )
    token = TokenEndpoint(
        client_auth,
        [
            AuthorizationCodeGrant(
                storage, access_tokens, refresh_tokens, id_tokens, revoker, clock, events=events
            ),
            RefreshTokenGrant(
                storage,
                refresh_tokens,
                access_tokens,
                id_tokens,
                revoker,
                clock,
                settings.refresh_grace_period,
                events=events,
            ),
            ClientCredentialsGrant(apis, access_tokens, issuer, default_scopes),
        ],
    )
    login = PasswordLogin(storage, OffloadedVerifier(hashers.users))
    limiter = open_rate_limiter(settings.redis)
    registration = RegistrationEndpoint(
        clients=clients,
        tokens=storage,
        apis=apis,
        hasher=client_secrets,
        revoker=revoker,
        clock=clock,
        issuer=issuer,
        policy=settings.registration,
        default_client_scopes=default_scopes,
    )
    return Provider(
        settings=settings,
        issuer=issuer,
        storage=storage,
        clock=clock,
        box=box,
        keyring=keyring,
        hashers=hashers,
        client_secrets=client_secrets,
        apis=apis,
        authorize=authorize,
        token=token,
        revocation=RevocationEndpoint(client_auth, lookup, revoker, clock),
        introspection=IntrospectionEndpoint(client_auth, lookup, revoker, storage),
        revocation_feed=RevocationFeedEndpoint(client_auth, storage, keyring, clock, issuer),
        userinfo=UserInfoEndpoint(lookup, revoker, storage, storage, subjects, clock),
        logout=LogoutEndpoint(storage, hints),
        sessions=SessionTerminator(
            storage, storage, storage, revoker, keyring, id_tokens, subjects, clock, issuer
        ),
        subjects=subjects,
        revoker=revoker,
        login=login,
        purger=Purger(storage, clock, interval=settings.purge_interval, batch=settings.purge_batch),
        key_rotation=KeyRotation.from_settings(settings, storage, box, clock),
        registration=registration,
        rate_limits=RateLimits(
            limiter,
            {
                "token": settings.rate_limit_token,
                "introspect": settings.rate_limit_introspect,
                "revoke": settings.rate_limit_revoke,
                "register": settings.rate_limit_register,
                "token_client": settings.rate_limit_token_client,
            },
        ),
        login_guard=LoginGuard(limiter, settings.rate_limit_login, settings.rate_limit_login_ip),
        interactions=InteractionApi(
            interactions=storage,
            admin_tokens=storage,
            clients=storage,
            users=storage,
            apis=storage,
            authorize=authorize,
            clock=clock,
            issuer=issuer,
        ),
        mirrors=mirrors,
        events=events,
    )
