"""Wiring of the protocol endpoints a client calls: /authorize, /token and its grants,
revocation, introspection, the revocation feed, userinfo, logout, registration and the
device flow (RFC 8628)."""

from __future__ import annotations

from dataclasses import dataclass

from tollhouse.algorithms import CLIENT_ALGS, FAPI2_CLIENT_ALGS
from tollhouse.protocol.authorization_sources import AuthorizationSources
from tollhouse.protocol.device import DeviceVerification
from tollhouse.protocol.dpop import DpopBinding
from tollhouse.protocol.endpoints.authorize import AuthorizeEndpoint
from tollhouse.protocol.endpoints.device_authorization import DeviceAuthorizationEndpoint
from tollhouse.protocol.endpoints.introspection import IntrospectionEndpoint
from tollhouse.protocol.endpoints.logout import LogoutEndpoint
from tollhouse.protocol.endpoints.par import ParEndpoint
from tollhouse.protocol.endpoints.registration import RegistrationEndpoint
from tollhouse.protocol.endpoints.revocation import RevocationEndpoint
from tollhouse.protocol.endpoints.revocation_feed import RevocationFeedEndpoint
from tollhouse.protocol.endpoints.token import TokenEndpoint
from tollhouse.protocol.endpoints.userinfo import UserInfoEndpoint
from tollhouse.protocol.grants.authorization_code import AuthorizationCodeGrant
from tollhouse.protocol.grants.client_credentials import ClientCredentialsGrant
from tollhouse.protocol.grants.device_code import DeviceCodeGrant
from tollhouse.protocol.grants.refresh_token import RefreshTokenGrant
from tollhouse.protocol.pushed_requests import PushedRequests
from tollhouse.protocol.request_objects import RequestObjects
from tollhouse.provider.clients import ClientServices
from tollhouse.provider.core import Core
from tollhouse.provider.dpop import dpop_binding
from tollhouse.provider.tokens import TokenServices


@dataclass(frozen=True, slots=True)
class Endpoints:
    authorize: AuthorizeEndpoint
    token: TokenEndpoint
    revocation: RevocationEndpoint
    introspection: IntrospectionEndpoint
    revocation_feed: RevocationFeedEndpoint
    userinfo: UserInfoEndpoint
    logout: LogoutEndpoint
    registration: RegistrationEndpoint
    device_authorization: DeviceAuthorizationEndpoint
    device: DeviceVerification
    par: ParEndpoint


def device_verification(core: Core, clients: ClientServices) -> DeviceVerification:
    storage = core.storage
    return DeviceVerification(
        devices=storage,
        codes=storage,
        clients=clients.clients,
        clock=core.clock,
        issuer=core.issuer,
        sessions=storage,
        events=core.events,
    )


def device_authorization_endpoint(
    core: Core, clients: ClientServices
) -> DeviceAuthorizationEndpoint:
    return DeviceAuthorizationEndpoint(
        authenticator=clients.authenticator,
        api_index=clients.api_index,
        devices=core.storage,
        clock=core.clock,
        issuer=core.issuer,
        ttl=core.settings.device_code_ttl,
        interval=core.settings.device_interval,
        default_client_scopes=clients.default_scopes,
        events=core.events,
    )


def authorize_endpoint(
    core: Core,
    clients: ClientServices,
    tokens: TokenServices,
    device: DeviceVerification,
    pushed: PushedRequests,
) -> AuthorizeEndpoint:
    settings, storage = core.settings, core.storage
    fapi = settings.profile == "fapi2"
    request_algs = FAPI2_CLIENT_ALGS if fapi else CLIENT_ALGS
    return AuthorizeEndpoint(
        clients=clients.clients,
        api_index=clients.api_index,
        codes=storage,
        consents=storage,
        clock=core.clock,
        issuer=core.issuer,
        code_ttl=settings.code_ttl,
        default_client_scopes=clients.default_scopes,
        show_registered_redirect_uris=settings.development_mode,
        id_token_hints=tokens.hints,
        sessions=storage,
        devices=device,
        sources=AuthorizationSources(
            pushed,
            RequestObjects(clients.keys, core.issuer, core.clock, algorithms=request_algs),
            require_par=settings.require_par or fapi,
        ),
        pkce_for_all=fapi,
        mfa_policy=settings.mfa,
    )


def token_endpoint(
    core: Core, clients: ClientServices, tokens: TokenServices, dpop: DpopBinding
) -> TokenEndpoint:
    """``/token`` with the grants this server offers (RFC 6749 §4.1, §4.4, §6)."""
    settings, storage, clock, events = core.settings, core.storage, core.clock, core.events
    code = AuthorizationCodeGrant(
        codes=storage,
        access_tokens=tokens.access_tokens,
        refresh_tokens=tokens.refresh_tokens,
        id_tokens=tokens.id_tokens,
        revoker=tokens.revoker,
        clock=clock,
        events=events,
    )
    refresh = RefreshTokenGrant(
        store=storage,
        refresh_tokens=tokens.refresh_tokens,
        access_tokens=tokens.access_tokens,
        id_tokens=tokens.id_tokens,
        revoker=tokens.revoker,
        clock=clock,
        grace_period=settings.refresh_grace_period,
        events=events,
    )
    machine = ClientCredentialsGrant(
        api_index=clients.api_index,
        access_tokens=tokens.access_tokens,
        issuer=core.issuer,
        default_client_scopes=clients.default_scopes,
    )
    device = DeviceCodeGrant(
        devices=storage, codes=storage, redeemer=code, clock=clock, events=events
    )
    return TokenEndpoint(
        authenticator=clients.authenticator, grants=[code, refresh, machine, device], dpop=dpop
    )


def endpoints(core: Core, clients: ClientServices, tokens: TokenServices) -> Endpoints:
    settings, storage, clock, issuer = core.settings, core.storage, core.clock, core.issuer
    authenticator, lookup, revoker = clients.authenticator, tokens.lookup, tokens.revoker
    dpop = dpop_binding(core)
    device = device_verification(core, clients)
    pushed = PushedRequests(storage, clock)
    authorize = authorize_endpoint(core, clients, tokens, device, pushed)
    return Endpoints(
        device=device,
        device_authorization=device_authorization_endpoint(core, clients),
        authorize=authorize,
        par=ParEndpoint(authenticator, authorize, pushed),
        token=token_endpoint(core, clients, tokens, dpop),
        revocation=RevocationEndpoint(
            authenticator=authenticator, lookup=lookup, revoker=revoker, clock=clock
        ),
        introspection=IntrospectionEndpoint(
            authenticator=authenticator, lookup=lookup, revoker=revoker, users=storage
        ),
        revocation_feed=RevocationFeedEndpoint(
            authenticator=authenticator,
            store=storage,
            signer=core.keyring,
            clock=clock,
            issuer=issuer,
        ),
        userinfo=UserInfoEndpoint(
            lookup=lookup,
            revoker=revoker,
            users=storage,
            clients=storage,
            subjects=tokens.subjects,
            clock=clock,
            dpop=dpop.checker,
        ),
        logout=LogoutEndpoint(clients=storage, hints=tokens.hints),
        registration=RegistrationEndpoint(
            clients=clients.clients,
            tokens=storage,
            api_index=clients.api_index,
            hasher=clients.client_secrets,
            revoker=revoker,
            clock=clock,
            issuer=issuer,
            policy=settings.registration,
            url_guard=core.outbound,
            default_client_scopes=clients.default_scopes,
        ),
    )
