"""RFC 6749 §4.1.1-4.1.2 authorization endpoint, with RFC 7636 (PKCE), RFC 9207 (iss
in the response), RFC 8707 (resource) and the RFC 9700 rules for redirects.

The endpoint decides; the web layer only shows pages. Its outcomes:
:class:`~tollhouse.protocol.results.Redirect` back to the client (a code or an error),
:class:`ErrorPage` when the client or redirect URI cannot be trusted, or a request for
user interaction (:class:`NeedsLogin`, :class:`NeedsConsent`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from tollhouse.clock import Clock
from tollhouse.errors import (
    AccessDenied,
    ConsentRequired,
    InvalidRedirectUri,
    InvalidRequest,
    LoginRequired,
    OAuthError,
    UnauthorizedClient,
    UnknownClient,
    UnsupportedResponseType,
)
from tollhouse.models import AuthorizationCode, Client, Consent, GrantType
from tollhouse.protocol import mfa as levels
from tollhouse.protocol import pkce, redirect_hints, redirect_uris, scopes
from tollhouse.protocol.api_index import ApiIndexCache
from tollhouse.protocol.authorization_sources import AuthorizationSources
from tollhouse.protocol.dpop_context import checked_jkt
from tollhouse.protocol.mfa import Policy, UnmetAuthenticationRequirements, parse_acr_values
from tollhouse.protocol.prompt import parse_max_age, parse_prompt
from tollhouse.protocol.requests import AuthorizationRequest
from tollhouse.protocol.results import Redirect, add_query
from tollhouse.protocol.sessions import SignedIn as SignedIn  # re-exported
from tollhouse.randomness import fingerprint, token
from tollhouse.storage.ports import ClientStore, CodeStore, ConsentStore, SessionStore

log = logging.getLogger("tollhouse.authorize")


@dataclass(frozen=True, slots=True)
class ErrorPage:
    """Shown to the user instead of redirecting (RFC 6749 §4.1.2.1, RFC 9700 §4.11)."""

    error: OAuthError
    client_id: str | None
    redirect_uri: str | None
    registered_redirect_uris: tuple[str, ...] | None = None
    """Only filled in loopback development mode."""
    hint: str | None = None
    """The nearest registered redirect URI and how it differs; development mode only."""


class IdTokenHints(Protocol):
    def subject_of(self, id_token_hint: str, client: Client) -> str | None:
        """The ``sub`` of an ID Token we issued to ``client`` (expired is fine), or None."""

    def subject_for(self, client: Client, user_id: str) -> str: ...


@dataclass(frozen=True, slots=True)
class NeedsLogin:
    request: AuthorizationRequest
    client: Client


@dataclass(frozen=True, slots=True)
class NeedsConsent:
    request: AuthorizationRequest
    client: Client
    signed_in: SignedIn


AuthorizeOutcome = Redirect | ErrorPage | NeedsLogin | NeedsConsent


class DeviceDecisions(Protocol):
    """What a person's answer does to an RFC 8628 request (protocol/device.py)."""

    async def approve(self, request: AuthorizationRequest, signed_in: SignedIn) -> Redirect: ...

    async def deny(self, request: AuthorizationRequest) -> Redirect: ...


class AuthorizeEndpoint:
    def __init__(
        self,
        *,
        clients: ClientStore,
        api_index: ApiIndexCache,
        codes: CodeStore,
        consents: ConsentStore,
        clock: Clock,
        issuer: str,
        code_ttl: int,
        default_client_scopes: Sequence[str] | None = None,
        show_registered_redirect_uris: bool = False,
        id_token_hints: IdTokenHints | None = None,
        sessions: SessionStore | None = None,
        devices: DeviceDecisions | None = None,
        sources: AuthorizationSources | None = None,
        pkce_for_all: bool = False,
        mfa_policy: Policy = "optional",
    ) -> None:
        self._mfa_policy = mfa_policy
        self._devices = devices
        self._pkce_for_all = pkce_for_all
        self.sources = sources or AuthorizationSources()
        self._hints = id_token_hints
        self._sessions = sessions
        self._clients = clients
        self._api_index = api_index
        self._codes = codes
        self._consents = consents
        self._clock = clock
        self._issuer = issuer
        self._code_ttl = code_ttl
        self._default_client_scopes = default_client_scopes
        self._show_registered = show_registered_redirect_uris

    async def handle(
        self, params: Mapping[str, str], signed_in: SignedIn | None
    ) -> AuthorizeOutcome:
        client_id = params.get("client_id")
        sent_redirect = params.get("redirect_uri")
        # RFC 6749 §4.1.2.1: with a missing, invalid or mismatching redirection URI or
        # client identifier the server "MUST NOT automatically redirect the user-agent".
        if client_id is None:
            return ErrorPage(
                InvalidRequest("The client_id parameter is missing."), None, sent_redirect
            )
        client = await self._clients.get_client(client_id)
        if client is None:
            return ErrorPage(
                UnknownClient(f"The client {client_id} is not registered."),
                client_id,
                sent_redirect,
            )
        try:
            params = await self.sources.at_authorize(params, client)
        except OAuthError as error:
            # Not redirected: the redirect_uri is inside what could not be read.
            return ErrorPage(error, client_id, sent_redirect)
        sent_redirect = params.get("redirect_uri")
        try:
            redirect_uri = redirect_uris.select(client.redirect_uris, sent_redirect)
        except InvalidRedirectUri as error:
            if not self._show_registered:
                return ErrorPage(error, client_id, sent_redirect)
            found = redirect_hints.nearest(sent_redirect or "", client.redirect_uris)
            hint = found.message() if found and sent_redirect is not None else None
            return ErrorPage(error, client_id, sent_redirect, client.redirect_uris, hint)

        state = params.get("state")
        try:
            request = await self._validate(params, client, redirect_uri, sent_redirect is not None)
        except OAuthError as error:
            return self.error_redirect(redirect_uri, error, state, client=client)
        return await self.resume(request, client, signed_in)

    async def check(self, params: Mapping[str, str], client: Client) -> None:
        """Raise what /authorize would refuse ``params`` with (RFC 9126 §2.1: a pushed
        request is validated as an authorization request when it is pushed)."""
        sent_redirect = params.get("redirect_uri")
        redirect_uri = redirect_uris.select(client.redirect_uris, sent_redirect)
        await self._validate(params, client, redirect_uri, sent_redirect is not None)

    async def _validate(
        self, params: Mapping[str, str], client: Client, redirect_uri: str, redirect_sent: bool
    ) -> AuthorizationRequest:
        response_type = params.get("response_type")
        if response_type is None:
            raise InvalidRequest("The response_type parameter is required.")
        if response_type != "code":
            raise UnsupportedResponseType("Only response_type=code is supported.")
        if GrantType.AUTHORIZATION_CODE not in client.grant_types:
            raise UnauthorizedClient("This client may not use the authorization code flow.")
        response_mode = params.get("response_mode")
        if response_mode is not None and response_mode != "query":
            raise InvalidRequest("Only response_mode=query is supported.")
        if "request" in params or "request_uri" in params:
            raise InvalidRequest("Request objects (request, request_uri) are not supported.")

        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        # RFC 9700 §2.1.1: public clients MUST use PKCE; FAPI 2.0 §5.3.2.2: every client.
        pkce.validate_challenge(challenge, method, required=client.is_public or self._pkce_for_all)

        grant = scopes.resolve(
            scopes.parse(params.get("scope")),
            params.get("resource"),
            await self._api_index.get(),
            client=client,
            issuer=self._issuer,
            default_client_scopes=self._default_client_scopes,
        )
        acr_values = parse_acr_values(params.get("acr_values"))
        return AuthorizationRequest(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            redirect_uri_sent=redirect_sent,
            scopes=grant.scopes,
            audience=grant.audience,
            state=params.get("state"),
            nonce=params.get("nonce"),
            code_challenge=challenge,
            code_challenge_method=method,
            prompt=parse_prompt(params.get("prompt")),
            max_age=parse_max_age(params.get("max_age")),
            login_hint=params.get("login_hint"),
            ui_locales=params.get("ui_locales"),
            id_token_hint_sub=self._hint_subject(params.get("id_token_hint"), client),
            dpop_jkt=checked_jkt(params.get("dpop_jkt")),
            acr_values=acr_values,
            mfa=levels.mfa_required(self._mfa_policy, client, acr_values),
            phr=levels.passkey_required(self._mfa_policy, client, acr_values),
        )

    def _hint_subject(self, hint: str | None, client: Client) -> str | None:
        """OIDC Core §3.1.2.1 id_token_hint: an ID Token we issued to this client."""
        if hint is None:
            return None
        subject = self._hints.subject_of(hint, client) if self._hints else None
        if subject is None:
            raise InvalidRequest(
                "id_token_hint is not an ID Token this server issued to the client."
            )
        return subject

    async def resume(
        self,
        request: AuthorizationRequest,
        client: Client,
        signed_in: SignedIn | None,
        *,
        just_signed_in: bool = False,
    ) -> AuthorizeOutcome:
        """Decide what the request needs next, given who is signed in."""
        if (
            signed_in is not None
            and not just_signed_in
            and request.id_token_hint_sub is not None
            and self._hints is not None
            and self._hints.subject_for(client, signed_in.user_id) != request.id_token_hint_sub
        ):
            # OIDC Core §3.1.2.2: the hint names another user than the one signed in.
            if "none" in request.prompt:
                return self.error_redirect(
                    request.redirect_uri, LoginRequired(), request.state, client=client
                )
            return NeedsLogin(request, client)
        if signed_in is None or (
            not just_signed_in and self._must_reauthenticate(request, signed_in)
        ):
            if "none" in request.prompt:
                return self.error_redirect(
                    request.redirect_uri, LoginRequired(), request.state, client=client
                )
            return NeedsLogin(request, client)
        needed = levels.needed_acr(request)
        if just_signed_in and not levels.satisfies(signed_in.acr, needed):
            # Without the factor asked for: a login app's, or a user with no passkey.
            error = UnmetAuthenticationRequirements(f"This sign-in needs {needed}.")
            return self.error_redirect(request.redirect_uri, error, request.state, client=client)
        if not await self._consented(request, client, signed_in.user_id):
            if "none" in request.prompt:
                return self.error_redirect(
                    request.redirect_uri, ConsentRequired(), request.state, client=client
                )
            return NeedsConsent(request, client, signed_in)
        return await self.issue_code(request, signed_in)

    async def consent(
        self, request: AuthorizationRequest, signed_in: SignedIn, *, allowed: bool
    ) -> Redirect:
        """Record the user's decision; deny → ``access_denied`` (RFC 6749 §4.1.2.1)."""
        if not allowed:
            return await self.refuse(request, AccessDenied())
        if request.device is None:
            # A device's approval is not remembered: RFC 8628 §5.4, each one is asked.
            await self._consents.save_consent(
                Consent(
                    signed_in.user_id,
                    request.client_id,
                    _consent_items(request),
                    self._clock.now(),
                )
            )
        return await self.issue_code(request, signed_in)

    async def refuse(self, request: AuthorizationRequest, error: OAuthError) -> Redirect:
        """The user (or the login app) refused: the client gets ``error``; a device
        gets ``access_denied`` when it next polls."""
        if request.device is not None and self._devices is not None:
            return await self._devices.deny(request)
        client = await self._clients.get_client(request.client_id)
        return self.error_redirect(request.redirect_uri, error, request.state, client=client)

    async def issue_code(self, request: AuthorizationRequest, signed_in: SignedIn) -> Redirect:
        """RFC 6749 §4.1.2; the code is stored only as its hash and lives ≤ 60 s. For a
        device (RFC 8628 §3.3), the approval that lets its next poll redeem one."""
        if request.device is not None and self._devices is not None:
            return await self._devices.approve(request, signed_in)
        code = token(32)
        now = self._clock.now()
        await self._codes.add_code(
            AuthorizationCode(
                code_hash=fingerprint(code),
                client_id=request.client_id,
                user_id=signed_in.user_id,
                redirect_uri=request.redirect_uri if request.redirect_uri_sent else "",
                scopes=request.scopes,
                audience=request.audience,
                code_challenge=request.code_challenge,
                code_challenge_method=request.code_challenge_method,
                created_at=now,
                expires_at=now + self._code_ttl,
                auth_time=signed_in.auth_time,
                session_id=signed_in.sid,
                nonce=request.nonce,
                amr=signed_in.amr,
                acr=signed_in.acr,
                dpop_jkt=request.dpop_jkt,
            )
        )
        if signed_in.sid and self._sessions is not None:
            # For back-channel logout: which clients got tokens in this session.
            await self._sessions.add_session_client(signed_in.sid, request.client_id)
        log.info(
            "authorization code issued",
            extra={"event": "code_issued", "client_id": request.client_id},
        )
        # RFC 9207 §2: the iss parameter tells the client which server answered.
        return Redirect(
            add_query(
                request.redirect_uri, {"code": code, "state": request.state, "iss": self._issuer}
            )
        )

    def error_redirect(
        self, redirect_uri: str, error: OAuthError, state: str | None, *, client: Client | None
    ) -> Redirect:
        """RFC 6749 §4.1.2.1; to a self-registered client (or one gone meanwhile) only
        through the leaving notice: anyone can make these errors happen, which would
        make the server an open redirector (RFC 9700 §4.11.2)."""
        return Redirect(
            add_query(
                redirect_uri,
                {
                    "error": error.error,
                    "error_description": error.description,
                    "state": state,
                    "iss": self._issuer,
                },
            ),
            third_party=client is None or client.self_registered,
        )

    def _must_reauthenticate(self, request: AuthorizationRequest, signed_in: SignedIn) -> bool:
        # select_account: one account per browser session here, so choosing an account
        # means signing in again (documented in docs/oidc.md).
        if "login" in request.prompt or "select_account" in request.prompt:
            return True
        if not levels.satisfies(signed_in.acr, levels.needed_acr(request)):
            return True  # the session has not the factor this request needs
        if request.max_age is not None:
            return self._clock.now() - signed_in.auth_time > request.max_age
        return False

    async def _consented(self, request: AuthorizationRequest, client: Client, user_id: str) -> bool:
        """Consent once given is remembered, except for a self-registered client: as
        Keycloak's anonymous-registration policy does, its user is asked every time, on
        a page saying a third party registered it and naming its redirect host."""
        if "consent" in request.prompt or client.self_registered:
            return False
        consent = await self._consents.get_consent(user_id, request.client_id)
        return consent is not None and set(_consent_items(request)) <= set(consent.scopes)


def _consent_items(request: AuthorizationRequest) -> tuple[str, ...]:
    """What the user agrees to: the scopes, and the API they open (``aud:`` entry)."""
    return (*request.scopes, f"aud:{request.audience}")
