"""Wiring of the protocol endpoints a client calls: /authorize, /token and its grants,
revocation, introspection, the revocation feed, userinfo, logout and registration."""

from __future__ import annotations

from dataclasses import dataclass

from tollhouse.protocol.endpoints.authorize import AuthorizeEndpoint
from tollhouse.protocol.endpoints.introspection import IntrospectionEndpoint
from tollhouse.protocol.endpoints.logout import LogoutEndpoint
from tollhouse.protocol.endpoints.registration import RegistrationEndpoint
from tollhouse.protocol.endpoints.revocation import RevocationEndpoint
from tollhouse.protocol.endpoints.revocation_feed import RevocationFeedEndpoint
from tollhouse.protocol.endpoints.token import TokenEndpoint
from tollhouse.protocol.endpoints.userinfo import UserInfoEndpoint
from tollhouse.protocol.grants.authorization_code import AuthorizationCodeGrant
from tollhouse.protocol.grants.client_credentials import ClientCredentialsGrant
from tollhouse.protocol.grants.refresh_token import RefreshTokenGrant
from tollhouse.provider.clients import ClientServices
from tollhouse.provider.core import Core
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


def authorize_endpoint(
    core: Core, clients: ClientServices, tokens: TokenServices
) -> AuthorizeEndpoint:
    settings, storage = core.settings, core.storage
    return AuthorizeEndpoint(
        clients=clients.clients,
        apis=clients.apis,
        codes=storage,
        consents=storage,
        clock=core.clock,
        issuer=core.issuer,
        code_ttl=settings.code_ttl,
        default_client_scopes=clients.default_scopes,
        show_registered_redirect_uris=settings.development_mode,
        id_token_hints=tokens.hints,
        sessions=storage,
        mfa_policy=settings.mfa,
    )


def token_endpoint(core: Core, clients: ClientServices, tokens: TokenServices) -> TokenEndpoint:
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
        apis=clients.apis,
        access_tokens=tokens.access_tokens,
        issuer=core.issuer,
        default_client_scopes=clients.default_scopes,
    )
    return TokenEndpoint(authenticator=clients.authenticator, grants=[code, refresh, machine])


def endpoints(core: Core, clients: ClientServices, tokens: TokenServices) -> Endpoints:
    settings, storage, clock, issuer = core.settings, core.storage, core.clock, core.issuer
    authenticator, lookup, revoker = clients.authenticator, tokens.lookup, tokens.revoker
    return Endpoints(
        authorize=authorize_endpoint(core, clients, tokens),
        token=token_endpoint(core, clients, tokens),
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
        ),
        logout=LogoutEndpoint(clients=storage, hints=tokens.hints),
        registration=RegistrationEndpoint(
            clients=clients.clients,
            tokens=storage,
            apis=clients.apis,
            hasher=clients.client_secrets,
            revoker=revoker,
            clock=clock,
            issuer=issuer,
            policy=settings.registration,
            url_guard=core.outbound,
            default_client_scopes=clients.default_scopes,
        ),
    )
