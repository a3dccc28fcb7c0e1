"""The identity provider: every endpoint and service one server process uses, wired
from the settings and the stores by :func:`build_provider`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tollhouse.backchannel import HttpLogoutSender, LogoutQueue
from tollhouse.clock import Clock, SystemClock
from tollhouse.config import Settings
from tollhouse.keys import KeyRing
from tollhouse.keys.rotation import KeyRotation
from tollhouse.maintenance import Purger
from tollhouse.observability.audit import AuditTrail
from tollhouse.protocol.api_index import ApiIndexCache
from tollhouse.protocol.cors import CorsPolicy, OriginIndex
from tollhouse.protocol.device import DeviceVerification
from tollhouse.protocol.endpoints.authorize import AuthorizeEndpoint
from tollhouse.protocol.endpoints.device_authorization import DeviceAuthorizationEndpoint
from tollhouse.protocol.endpoints.interaction import InteractionApi
from tollhouse.protocol.endpoints.introspection import IntrospectionEndpoint
from tollhouse.protocol.endpoints.logout import LogoutEndpoint
from tollhouse.protocol.endpoints.par import ParEndpoint
from tollhouse.protocol.endpoints.registration import RegistrationEndpoint
from tollhouse.protocol.endpoints.revocation import RevocationEndpoint
from tollhouse.protocol.endpoints.revocation_feed import RevocationFeedEndpoint
from tollhouse.protocol.endpoints.token import TokenEndpoint
from tollhouse.protocol.endpoints.userinfo import UserInfoEndpoint
from tollhouse.protocol.events import NO_EVENTS, Events
from tollhouse.protocol.login import PasswordLogin
from tollhouse.protocol.mfa import SecondFactors
from tollhouse.protocol.passkeys import Passkeys
from tollhouse.protocol.revocation import Revoker
from tollhouse.protocol.sessions import LogoutSender, SessionService
from tollhouse.protocol.sign_in import SignIn
from tollhouse.protocol.subjects import Subjects
from tollhouse.provider.clients import ClientServices, client_services
from tollhouse.provider.core import Core
from tollhouse.provider.endpoints import Endpoints, endpoints
from tollhouse.provider.operations import (
    close_mirrors,
    login_guard,
    rate_limits,
    revocation_mirrors,
)
from tollhouse.provider.parts import DiscoveryCache, Hashers, MetricsAccess, PageSettings
from tollhouse.provider.sign_in import SignInServices, sign_in_services
from tollhouse.provider.tokens import TokenServices, open_keyring, token_services
from tollhouse.security.client_secrets import ClientSecretVerifier
from tollhouse.security.login_guard import LoginGuard
from tollhouse.security.master_key import load_master_key
from tollhouse.security.outbound import AllowList, OutboundGuard
from tollhouse.security.ratelimit import RateLimits, open_rate_limiter
from tollhouse.security.safe_fetch import SafeFetcher
from tollhouse.security.secretbox import SecretBox
from tollhouse.security.shared_slots import SlotLease
from tollhouse.storage.ports import RevocationList, Storage


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
    api_index: ApiIndexCache
    """The registered APIs, indexed once per registry load and shared by every
    endpoint that reads them (discovery, grants, consent, registration)."""
    authorize: AuthorizeEndpoint
    token: TokenEndpoint
    revocation: RevocationEndpoint
    introspection: IntrospectionEndpoint
    revocation_feed: RevocationFeedEndpoint
    userinfo: UserInfoEndpoint
    logout: LogoutEndpoint
    sessions: SessionService
    subjects: Subjects
    revoker: Revoker
    login: PasswordLogin
    purger: Purger
    key_rotation: KeyRotation
    registration: RegistrationEndpoint
    device_authorization: DeviceAuthorizationEndpoint
    device: DeviceVerification
    """The person's side of the device flow (``/device``) and the operator's."""
    par: ParEndpoint
    rate_limits: RateLimits
    login_guard: LoginGuard
    interactions: InteractionApi
    sign_in: SignIn
    factors: SecondFactors
    passkeys: Passkeys
    pages: PageSettings
    cors: CorsPolicy
    """Which origins may read which endpoint's answers (protocol/cors.py)."""
    mirrors: tuple[RevocationList, ...] = ()
    events: Events = NO_EVENTS
    discovery_cache: DiscoveryCache = field(default_factory=DiscoveryCache)
    logout_queue: LogoutQueue | None = None
    """Back-channel logout tokens waiting to be sent (backchannel.py); drained on close."""
    metrics_access: MetricsAccess = field(default_factory=MetricsAccess)

    @property
    def require_par(self) -> bool:
        """Every client must push its authorization requests (RFC 9126 §5)."""
        return self.authorize.sources.require_par

    @property
    def fapi2(self) -> bool:
        """The FAPI 2.0 profile is on (protocol/profile.py)."""
        return self.settings.profile == "fapi2"

    @property
    def client_cert_header(self) -> str | None:
        """RFC 8705: the header in which a trusted proxy passes the client certificate."""
        return self.settings.tls_client_cert_header

    @property
    def mtls_base_url(self) -> str | None:
        """RFC 8705 §5: where the endpoints that take client certificates live, if apart."""
        return self.settings.mtls_base_url

    @property
    def client_certificates(self) -> bool:
        """Client certificates can reach the app: from a trusted proxy's header or from
        built-in TLS asking for them (``TOLLHOUSE_TLS_CLIENT_CA``)."""
        return bool(self.settings.tls_client_cert_header or self.settings.tls_client_ca)

    def readiness_checks(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """What this instance needs to serve, by name (``/readyz``): each check raises when
        its dependency is down; Redis only when configured."""
        checks: dict[str, Callable[[], Awaitable[None]]] = {
            "database": self.storage.ping,
            "signing_keys": self._signing_keys_ready,
        }
        if self.settings.redis:
            checks["redis"] = self._redis_ready
        return checks

    async def _signing_keys_ready(self) -> None:
        if self.keyring.default_alg not in self.keyring.algorithms:
            raise LookupError(f"no active {self.keyring.default_alg} signing key")

    async def _redis_ready(self) -> None:
        for mirror in self.mirrors:
            ping: Callable[[], Awaitable[None]] | None = getattr(mirror, "ping", None)
            if ping is not None:
                await ping()

    async def close(self) -> None:
        if self.logout_queue is not None:
            await self.logout_queue.close()
        self.keyring.close()
        await close_mirrors(self.mirrors)
        await self.rate_limits.limiter.close()
        await self.login_guard.close()
        await self.storage.close()


async def build_provider(
    settings: Settings,
    storage: Storage,
    *,
    clock: Clock | None = None,
    hashers: Hashers | None = None,
    mirrors: tuple[RevocationList, ...] | None = None,
    events: Events | None = None,
    logout_sender: LogoutSender | None = None,
    outbound: OutboundGuard | None = None,
    password_slots: SlotLease | None = None,
) -> Provider:
    """Wire every endpoint, area by area; loads (and on first start creates) the keys.

    ``events`` receives the security events (default: the JSON audit trail on the
    ``tollhouse.audit`` logger plus the Prometheus counters); ``logout_sender``
    delivers back-channel logout tokens (default: a queue sending them in the background
    through the outbound-URL guard, backchannel.py); ``outbound`` is that guard
    (default: from ``TOLLHOUSE_OUTBOUND_ALLOW``, with the system's resolver);
    ``password_slots``, the password-check slots a ``--workers`` process shares with
    the others (default: its own, security/hash_gate.py)."""
    clock = clock or SystemClock()
    box = SecretBox(load_master_key(settings.master_key, settings.data_dir).key)
    core = Core(
        settings=settings,
        storage=storage,
        clock=clock,
        box=box,
        keyring=await open_keyring(settings, storage, box, clock),
        hashers=hashers or Hashers.production(),
        mirrors=await revocation_mirrors(settings) if mirrors is None else mirrors,
        events=events if events is not None else AuditTrail(),
        outbound=outbound or OutboundGuard(AllowList.parse(settings.outbound_allow)),
        password_slots=password_slots,
    )
    clients = client_services(core)
    tokens = token_services(core)
    served = endpoints(core, clients, tokens)
    queue = LogoutQueue(HttpLogoutSender(SafeFetcher(core.outbound)), core.events)
    people = sign_in_services(core, clients, tokens, served.authorize, logout_sender or queue)
    return _assemble(core, clients, tokens, served, people, queue)


def _assemble(
    core: Core,
    clients: ClientServices,
    tokens: TokenServices,
    served: Endpoints,
    people: SignInServices,
    logout_queue: LogoutQueue | None,
) -> Provider:
    settings, storage, clock = core.settings, core.storage, core.clock
    limiter = open_rate_limiter(settings.redis)
    return Provider(
        settings=settings,
        issuer=core.issuer,
        storage=storage,
        clock=clock,
        box=core.box,
        keyring=core.keyring,
        hashers=core.hashers,
        client_secrets=clients.client_secrets,
        api_index=clients.api_index,
        authorize=served.authorize,
        token=served.token,
        revocation=served.revocation,
        introspection=served.introspection,
        revocation_feed=served.revocation_feed,
        userinfo=served.userinfo,
        logout=served.logout,
        registration=served.registration,
        device_authorization=served.device_authorization,
        device=served.device,
        par=served.par,
        sessions=people.sessions,
        login=people.login,
        sign_in=people.sign_in,
        factors=people.factors,
        passkeys=people.passkeys,
        interactions=people.interactions,
        pages=people.pages,
        cors=CorsPolicy(OriginIndex(clients.clients)),
        subjects=tokens.subjects,
        revoker=tokens.revoker,
        purger=Purger(storage, clock, interval=settings.purge_interval, batch=settings.purge_batch),
        key_rotation=KeyRotation.from_settings(settings, storage, core.box, clock),
        rate_limits=rate_limits(settings, limiter),
        login_guard=login_guard(settings, limiter),
        mirrors=core.mirrors,
        events=core.events,
        logout_queue=logout_queue,
        metrics_access=MetricsAccess.from_settings(settings),
    )
