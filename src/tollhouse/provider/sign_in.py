"""Wiring of signing people in: passwords, SSO sessions and logout, interactions, the
built-in pages' settings and the interaction API for an external login app."""

from __future__ import annotations

from dataclasses import dataclass

from tollhouse.protocol.endpoints.authorize import AuthorizeEndpoint
from tollhouse.protocol.endpoints.interaction import InteractionApi
from tollhouse.protocol.interactions import Interactions
from tollhouse.protocol.login import PasswordLogin
from tollhouse.protocol.logout import SessionTerminator
from tollhouse.protocol.mfa import SecondFactors, issuer_name
from tollhouse.protocol.passkeys import Passkeys
from tollhouse.protocol.sessions import LogoutSender, SessionService
from tollhouse.protocol.sign_in import SignIn
from tollhouse.provider.clients import ClientServices
from tollhouse.provider.core import Core
from tollhouse.provider.parts import OffloadedVerifier, PageSettings, hash_gate
from tollhouse.provider.tokens import TokenServices


@dataclass(frozen=True, slots=True)
class SignInServices:
    login: PasswordLogin
    sessions: SessionService
    sign_in: SignIn
    interactions: InteractionApi
    pages: PageSettings
    factors: SecondFactors
    passkeys: Passkeys


def session_service(core: Core, tokens: TokenServices, sender: LogoutSender) -> SessionService:
    settings, storage, clock = core.settings, core.storage, core.clock
    terminator = SessionTerminator(
        sessions=storage,
        clients=storage,
        registrations=storage,
        families=storage,
        revoker=tokens.revoker,
        signer=core.keyring,
        id_tokens=tokens.id_tokens,
        subjects=tokens.subjects,
        clock=clock,
        issuer=core.issuer,
    )
    return SessionService(
        store=storage,
        terminator=terminator,
        sender=sender,
        clock=clock,
        ttl=settings.session_ttl,
        idle_ttl=settings.session_idle_ttl,
    )


def sign_in_services(
    core: Core,
    registry: ClientServices,
    tokens: TokenServices,
    authorize: AuthorizeEndpoint,
    sender: LogoutSender,
) -> SignInServices:
    """Sign-in and its session, for the built-in pages and the interaction API alike.

    Clients and APIs come from ``registry``'s caches, as for ``/authorize`` and
    ``/token``: each page of a sign-in reads the interaction, not the client again (a
    flood of sign-ins then costs the database less)."""
    settings, storage, clock, events, issuer = (
        core.settings,
        core.storage,
        core.clock,
        core.events,
        core.issuer,
    )
    sessions = session_service(core, tokens, sender)
    login = PasswordLogin(
        users=storage,
        verifier=OffloadedVerifier(core.hashers.users, hash_gate(settings, core.password_slots)),
    )
    interactions = Interactions(
        store=storage,
        clients=registry.clients,
        clock=clock,
        ttl=settings.interaction_ttl,
        login_url=settings.login_url,
        consent_url=settings.consent_url,
    )
    factors = second_factors(core)
    passkeys = passkey_service(core)
    sign_in = SignIn(
        interactions=interactions,
        sessions=sessions,
        authorize=authorize,
        login=login,
        users=storage,
        apis=registry.apis,
        issuer=issuer,
        events=events,
        factors=factors,
        mfa_policy=settings.mfa,
        passkeys=passkeys,
    )
    api = InteractionApi(
        interactions=interactions,
        sign_in=sign_in,
        sessions=sessions,
        admin_tokens=storage,
        users=storage,
        api_index=registry.api_index,
        authorize=authorize,
        clock=clock,
        issuer=issuer,
        devices=storage,
        events=events,
    )
    return SignInServices(
        login=login,
        sessions=sessions,
        sign_in=sign_in,
        interactions=api,
        pages=PageSettings.from_settings(settings, issuer),
        factors=factors,
        passkeys=passkeys,
    )


def second_factors(core: Core) -> SecondFactors:
    """TOTP and recovery codes, sealed under the master key; the authenticator app
    names the account after the issuer's host."""
    return SecondFactors(
        store=core.storage,
        sealer=core.box,
        clock=core.clock,
        issuer_name=issuer_name(core.issuer),
        events=core.events,
    )


def passkey_service(core: Core) -> Passkeys:
    """WebAuthn for the issuer's origin; the relying party is named as the pages are."""
    return Passkeys(
        store=core.storage,
        sealer=core.box,
        clock=core.clock,
        issuer=core.issuer,
        rp_name=core.settings.operator_name,
        events=core.events,
    )
