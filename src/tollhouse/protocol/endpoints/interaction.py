"""The interaction API: the operator's own login and consent app completes a pending
authorization request (OpenID Connect Core §3.1.2.3-§3.1.2.4 done elsewhere; the model
of Ory Hydra's login and consent flow). Documented in docs/oidc.md.

1. ``/authorize`` needs a login (or consent) and ``TOLLHOUSE_LOGIN_URL`` (or
   ``TOLLHOUSE_CONSENT_URL``) is set: the browser is sent there with
   ``?interaction=ID``.
2. The app reads the request (``GET /admin/interactions/ID``) and answers
   ``PUT …/accept-login``, ``…/accept-consent`` or ``…/reject`` with an admin token
   (``Authorization: Bearer``, ``tollhouse admin-token create``). The answer is a
   ``redirect_to`` URL carrying a one-time ``verifier``.
3. The app sends the browser to ``redirect_to``; Tollhouse checks that it is the
   browser that started the request (the CSRF cookie bound to the interaction), then
   continues exactly as after its own pages (protocol/sign_in.py): session, consent,
   code. The ``amr`` the app reports is kept on the session and reaches the tokens.

Every step is single-use: the interaction is taken atomically when answered, the
verifier when redeemed (protocol/interactions.py). Only fingerprints of ids, verifiers
and admin tokens are stored.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from tollhouse.clock import Clock
from tollhouse.errors import InvalidRequest, InvalidToken, OAuthError
from tollhouse.protocol.api_index import ApiIndexCache
from tollhouse.protocol.claims import SCOPE_DESCRIPTIONS
from tollhouse.protocol.endpoints.authorize import AuthorizeEndpoint, AuthorizeOutcome
from tollhouse.protocol.events import NO_EVENTS, ConsentDecided, Events
from tollhouse.protocol.interactions import (
    REJECT_ERRORS,
    AnswerExpired,
    ConsentAccepted,
    Decision,
    Interactions,
    LoginAccepted,
    NotFoundError,
    Pending,
    PendingState,
    Redeemed,
    Rejected,
    Stage,
    WrongBrowser,
)
from tollhouse.protocol.results import NO_STORE, JsonResult, Redirect, add_query, error_json
from tollhouse.protocol.sessions import SessionCookie, SessionService, SignedIn
from tollhouse.protocol.sign_in import SignIn
from tollhouse.randomness import fingerprint
from tollhouse.storage.ports import AdminTokenStore, DeviceStore, UserStore

__all__ = [
    "AnswerExpired",
    "ConsentAccepted",
    "Finished",
    "InteractionApi",
    "LoginAccepted",
    "NotFoundError",
    "PendingState",
    "Rejected",
    "WrongBrowser",
    "WrongStage",
]

log = logging.getLogger("tollhouse.audit")

CALLBACK_PATH = "/interaction/callback"
ADMIN_REALM = 'Bearer realm="tollhouse-admin"'
_AMR = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_ACR = re.compile(r"[A-Za-z0-9_.:/-]{1,128}")
_DESCRIPTION = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]{1,200}")
"""RFC 6749 §5.2 error_description characters (no ``"`` or ``\\``)."""


class WrongStage(OAuthError):
    error = "invalid_request"
    status = 409


@dataclass(frozen=True, slots=True)
class Finished:
    """The browser came back: the request's next step, and the session cookie to set
    when the app signed the user in."""

    outcome: AuthorizeOutcome
    cookie: SessionCookie | None = None


class InteractionApi:
    """The admin side (describe, accept, reject) and the browser side (finish)."""

    def __init__(
        self,
        *,
        interactions: Interactions,
        sign_in: SignIn,
        sessions: SessionService,
        admin_tokens: AdminTokenStore,
        users: UserStore,
        api_index: ApiIndexCache,
        authorize: AuthorizeEndpoint,
        clock: Clock,
        issuer: str,
        devices: DeviceStore | None = None,
        events: Events = NO_EVENTS,
    ) -> None:
        self._interactions = interactions
        self._devices = devices
        self._sign_in = sign_in
        self._sessions = sessions
        self._authorize = authorize
        self._admin_tokens = admin_tokens
        self._users = users
        self._api_index = api_index
        self._clock = clock
        self._issuer = issuer
        self._events = events

    async def authenticate(self, authorization: str | None) -> JsonResult | None:
        """RFC 6750 §2.1 Bearer admin token; None when it is valid, else the 401."""
        scheme, _, value = (authorization or "").partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value or len(value) > 256:
            return JsonResult(401, {}, {**NO_STORE, "WWW-Authenticate": ADMIN_REALM})
        found = await self._admin_tokens.get_admin_token(fingerprint(value))
        if found is None or found.expires_at <= self._clock.now():
            error = InvalidToken("The admin token is unknown, revoked or expired.")
            challenge = f'{ADMIN_REALM}, error="invalid_token"'
            return error_json(error, headers={"WWW-Authenticate": challenge})
        log.info(
            "interaction api call",
            extra={"event": "interaction_api", "admin_token": found.token_id},
        )
        return None

    async def describe(self, interaction_id: str) -> JsonResult:
        """``GET /admin/interactions/ID``: what the app needs to show its page."""
        try:
            pending = await self._pending(interaction_id)
        except OAuthError as error:
            return error_json(error)
        request, state = pending.request, pending.state
        index = await self._api_index.get()
        api = index.by_identifier.get(request.audience)
        described = api.descriptions if api else {}
        api_name = (api.name or api.identifier) if api else request.audience
        user = await self._users.get_user(state.user_id) if state.user_id else None
        body: dict[str, Any] = {
            "interaction": interaction_id,
            "stage": state.stage,
            "client": {
                "client_id": pending.client.client_id,
                "name": pending.client.name,
                # Registered by a third party: say so on the consent page, with the host.
                "self_registered": pending.client.self_registered,
            },
            "scopes": [
                {
                    "scope": scope,
                    "description": SCOPE_DESCRIPTIONS.get(scope)
                    or described.get(scope)
                    or f"Use {api_name} ({scope})",
                }
                for scope in request.scopes
            ],
            "audience": None if request.audience == self._issuer else request.audience,
            "redirect_uri": request.redirect_uri,
            "prompt": list(request.prompt),
            "max_age": request.max_age,
            "acr_values": list(request.acr_values),
            # A second factor is needed: accept-login must then report acr urn:tollhouse:mfa
            # (or phr); a passkey is needed: it must report phr.
            "mfa_required": request.mfa,
            "passkey_required": request.phr,
            "login_hint": request.login_hint,
            "ui_locales": request.ui_locales,
            "user": {"user_id": user.user_id, "username": user.username} if user else None,
            "expires_at": pending.record.expires_at,
            "device": await self._device(request.device),
        }
        return JsonResult(200, body, dict(NO_STORE))

    async def _device(self, device_code_hash: str | None) -> dict[str, str | None] | None:
        """For a device's request, where it asked from (RFC 8628 §5.4), as the built-in
        consent page shows it; None for an /authorize request."""
        if device_code_hash is None or self._devices is None:
            return None
        device = await self._devices.get_device_authorization(device_code_hash)
        if device is None:
            return None
        return {"ip": device.ip, "user_agent": device.user_agent}

    async def accept_login(self, interaction_id: str, body: Mapping[str, Any]) -> JsonResult:
        """``PUT …/accept-login`` ``{"username" | "user_id", "remember"?, "amr"?,
        "acr"?}``; ``amr`` (RFC 8176 names) and ``acr`` are how the app authenticated
        the user: they reach the ID Token and the access token."""
        try:
            pending = await self._pending(interaction_id, "login")
            username, user_id = body.get("username"), body.get("user_id")
            if (username is None) == (user_id is None):
                raise InvalidRequest("Give exactly one of username and user_id.")
            if not isinstance(username or user_id, str):
                raise InvalidRequest("username / user_id must be a string.")
            user = (
                await self._users.get_user_by_username(username)
                if isinstance(username, str)
                else await self._users.get_user(str(user_id))
            )
            if user is None:
                raise InvalidRequest("No such user.")
            decision = LoginAccepted(user.user_id, _flag(body, "remember"), _amr(body), _acr(body))
            return await self._answer(pending, decision)
        except OAuthError as error:
            return error_json(error)

    async def accept_consent(self, interaction_id: str, body: Mapping[str, Any]) -> JsonResult:
        """``PUT …/accept-consent`` ``{"grant_scopes"?, "remember"?}``: a subset of the
        requested scopes (default: all of them)."""
        try:
            pending = await self._pending(interaction_id, "consent")
            requested = pending.request.scopes
            granted = body.get("grant_scopes", list(requested))
            if not isinstance(granted, list) or not all(isinstance(s, str) for s in granted):
                raise InvalidRequest("grant_scopes must be a list of strings.")
            extra = sorted(set(granted) - set(requested))
            if extra:
                raise InvalidRequest(f"Scope {extra[0]!r} was not requested.")
            scopes = tuple(s for s in requested if s in granted)
            decision = ConsentAccepted(scopes, _flag(body, "remember"))
            return await self._answer(pending, decision)
        except OAuthError as error:
            return error_json(error)

    async def reject(self, interaction_id: str, body: Mapping[str, Any]) -> JsonResult:
        """``PUT …/reject`` ``{"error"?, "error_description"?}`` → the client receives
        that error (default ``access_denied``)."""
        try:
            pending = await self._pending(interaction_id)
            code = body.get("error", "access_denied")
            if code not in REJECT_ERRORS:
                raise InvalidRequest(f"error must be one of {', '.join(sorted(REJECT_ERRORS))}.")
            description = body.get("error_description")
            if description is not None and (
                not isinstance(description, str) or not _DESCRIPTION.fullmatch(description)
            ):
                raise InvalidRequest(
                    'error_description must be 1-200 printable ASCII characters without " or \\.'
                )
            return await self._answer(pending, Rejected(str(code), description))
        except OAuthError as error:
            return error_json(error)

    async def redeem(self, verifier: str | None, csrf_cookie: str | None) -> Redeemed:
        """The browser followed ``redirect_to`` (protocol/interactions.py)."""
        return await self._interactions.redeem(verifier, csrf_cookie)

    async def finish(
        self, verifier: str | None, csrf_cookie: str | None, session_cookie: str | None
    ) -> Finished:
        """The browser followed ``redirect_to``: carry on as the app decided, as after
        the built-in pages."""
        redeemed = await self._interactions.redeem(verifier, csrf_cookie)
        decision, state = redeemed.decision, redeemed.state
        if isinstance(decision, Rejected):
            if state.stage == "consent" and state.user_id:
                self._events.emit(
                    ConsentDecided(redeemed.client.client_id, state.user_id, allowed=False)
                )
            return Finished(await self.rejection(redeemed))
        if isinstance(decision, LoginAccepted):
            logged_in = await self._sign_in.finish_login(
                state.request,
                redeemed.client,
                decision.user_id,
                session_cookie,
                amr=decision.amr,
                acr=decision.acr,
                remember=decision.remember,
            )
            return Finished(logged_in.outcome, logged_in.cookie)
        signed_in = await self._sessions.signed_in(session_cookie)
        if signed_in is None:
            raise WrongBrowser("The session ended during consent.")
        done = await self.complete_consent(redeemed, signed_in)
        scopes = decision.scopes if isinstance(decision, ConsentAccepted) else ()
        self._events.emit(
            ConsentDecided(
                redeemed.client.client_id, signed_in.user_id, allowed=True, scopes=scopes
            )
        )
        return Finished(done)

    async def rejection(self, redeemed: Redeemed) -> Redirect:
        """The app rejected: the client receives the error (RFC 6749 §4.1.2.1)."""
        decision = redeemed.decision
        if not isinstance(decision, Rejected):
            raise TypeError("not a rejection")
        return await self._authorize.refuse(redeemed.state.request, decision.as_error())

    async def complete_consent(self, redeemed: Redeemed, signed_in: SignedIn) -> Redirect:
        """The app granted ``scopes`` for the user it was asked about: a code for them,
        remembered as consent unless ``remember`` is false."""
        decision = redeemed.decision
        if not isinstance(decision, ConsentAccepted):
            raise TypeError("not a consent")
        if signed_in.user_id != redeemed.state.user_id:
            raise WrongBrowser(
                "The signed-in user changed during consent.", debug="consent user mismatch"
            )
        request = replace(redeemed.state.request, scopes=decision.scopes)
        if decision.remember:
            return await self._authorize.consent(request, signed_in, allowed=True)
        return await self._authorize.issue_code(request, signed_in)

    # -------------------------------------------------------------------------------

    async def _pending(self, interaction_id: str, stage: Stage | None = None) -> Pending:
        found = await self._interactions.find(interaction_id)
        if found is None:
            raise NotFoundError("No such interaction: unknown, expired or already answered.")
        record, state = found
        if stage is not None and state.stage != stage:
            raise WrongStage(f"This interaction waits for {state.stage}, not {stage}.")
        client = await self._interactions.client_of(record)
        if client is None:
            raise NotFoundError("The client of this interaction no longer exists.")
        return Pending(interaction_id, record, state, client)

    async def _answer(self, pending: Pending, decision: Decision) -> JsonResult:
        # Taken atomically: of two answers to one interaction, one wins.
        verifier = await self._interactions.answer(pending, decision)
        if verifier is None:
            raise NotFoundError("No such interaction: already answered.")
        log.info(
            "interaction answered",
            extra={
                "event": "interaction_answered",
                "client_id": pending.client.client_id,
                "stage": pending.state.stage,
                "decision": type(decision).__name__,
            },
        )
        redirect_to = add_query(self._issuer + CALLBACK_PATH, {"verifier": verifier})
        return JsonResult(200, {"redirect_to": redirect_to}, dict(NO_STORE))


def _flag(body: Mapping[str, Any], name: str, default: bool = True) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise InvalidRequest(f"{name} must be true or false.")
    return value


def _acr(body: Mapping[str, Any]) -> str | None:
    acr = body.get("acr")
    if acr is None:
        return None
    if not isinstance(acr, str) or not _ACR.fullmatch(acr):
        raise InvalidRequest("acr must be a short URI or name (OIDC Core §2).")
    return acr


def _amr(body: Mapping[str, Any]) -> tuple[str, ...]:
    amr = body.get("amr", [])
    if (
        not isinstance(amr, list)
        or len(amr) > 8
        or not all(isinstance(a, str) and _AMR.fullmatch(a) for a in amr)
    ):
        raise InvalidRequest("amr must be a list of short RFC 8176 method names.")
    return tuple(amr)
