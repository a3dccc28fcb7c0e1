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
   continues exactly as after its own pages: session, consent, code.

Every step is single-use: the interaction is taken atomically when answered, the
verifier when redeemed. Only fingerprints of ids, verifiers and admin tokens are stored.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from tollhouse.clock import Clock
from tollhouse.errors import (
    AccessDenied,
    ConsentRequired,
    InvalidRequest,
    InvalidToken,
    LoginRequired,
    OAuthError,
)
from tollhouse.models import Client, Interaction
from tollhouse.protocol.claims import SCOPE_DESCRIPTIONS
from tollhouse.protocol.endpoints.authorize import AuthorizeEndpoint, SignedIn
from tollhouse.protocol.requests import AuthorizationRequest
from tollhouse.protocol.results import NO_STORE, JsonResult, Redirect, add_query, error_json
from tollhouse.randomness import equal, fingerprint, token
from tollhouse.storage.ports import (
    AdminTokenStore,
    ApiStore,
    ClientStore,
    InteractionStore,
    UserStore,
)

log = logging.getLogger("tollhouse.audit")

Stage = Literal["login", "consent"]
VERIFIER_TTL = 120
"""Seconds the browser has to follow ``redirect_to``."""
CALLBACK_PATH = "/interaction/callback"
ADMIN_REALM = 'Bearer realm="tollhouse-admin"'
_AMR = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_DESCRIPTION = re.compile(r"^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,200}$")
"""RFC 6749 §5.2 error_description characters (no ``"`` or ``\\``)."""


class NotFoundError(OAuthError):
    """No such pending interaction (unknown, expired or already answered)."""

    error = "not_found"
    status = 404


class WrongStage(OAuthError):
    error = "invalid_request"
    status = 409


class AnswerExpired(InvalidRequest):
    """The browser came back too late, twice, or with a made-up verifier."""


class WrongBrowser(InvalidRequest):
    """The browser that came back is not the one that started the request."""


class InteractionRequired(OAuthError):
    error = "interaction_required"
    status = 400


class AccountSelectionRequired(OAuthError):
    error = "account_selection_required"
    status = 400


#: The errors a reject may send back to the client (OIDC Core §3.1.2.6, RFC 6749 §4.1.2.1).
REJECT_ERRORS: dict[str, type[OAuthError]] = {
    "access_denied": AccessDenied,
    "login_required": LoginRequired,
    "consent_required": ConsentRequired,
    "interaction_required": InteractionRequired,
    "account_selection_required": AccountSelectionRequired,
}


@dataclass(frozen=True, slots=True)
class LoginAccepted:
    user_id: str
    remember: bool = True
    """False: the session cookie ends with the browser (no Max-Age)."""
    amr: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConsentAccepted:
    scopes: tuple[str, ...]
    remember: bool = True
    """False: this authorization only; the next one asks again."""


@dataclass(frozen=True, slots=True)
class Rejected:
    error: str
    description: str | None = None

    def as_error(self) -> OAuthError:
        return REJECT_ERRORS[self.error](self.description)


Decision = LoginAccepted | ConsentAccepted | Rejected


@dataclass(frozen=True, slots=True)
class PendingState:
    """What an interaction record holds: the request, its stage, whose consent is asked
    (consent stage), and once answered through the API, the decision."""

    request: AuthorizationRequest
    stage: Stage = "login"
    user_id: str | None = None
    decision: Decision | None = None

    def to_dict(self) -> dict[str, Any]:
        decision: dict[str, Any] | None = None
        if isinstance(self.decision, LoginAccepted):
            decision = {
                "kind": "login",
                "user_id": self.decision.user_id,
                "remember": self.decision.remember,
                "amr": list(self.decision.amr),
            }
        elif isinstance(self.decision, ConsentAccepted):
            decision = {
                "kind": "consent",
                "scopes": list(self.decision.scopes),
                "remember": self.decision.remember,
            }
        elif isinstance(self.decision, Rejected):
            decision = {
                "kind": "reject",
                "error": self.decision.error,
                "description": self.decision.description,
            }
        return {
            "request": self.request.to_dict(),
            "stage": self.stage,
            "user_id": self.user_id,
            "decision": decision,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingState:
        request = AuthorizationRequest.from_dict(data["request"])
        stage: Stage = "consent" if data.get("stage") == "consent" else "login"
        user_id = data.get("user_id")
        raw = data.get("decision")
        decision: Decision | None = None
        if isinstance(raw, dict):
            if raw.get("kind") == "login":
                amr = tuple(str(a) for a in raw.get("amr") or ())
                decision = LoginAccepted(str(raw["user_id"]), bool(raw.get("remember")), amr)
            elif raw.get("kind") == "consent":
                scopes = tuple(str(s) for s in raw.get("scopes") or ())
                decision = ConsentAccepted(scopes, bool(raw.get("remember")))
            elif raw.get("kind") == "reject":
                description = raw.get("description")
                decision = Rejected(str(raw["error"]), description if description else None)
        return cls(request, stage, user_id if isinstance(user_id, str) else None, decision)


@dataclass(frozen=True, slots=True)
class Redeemed:
    """A verifier redeemed by the browser that started the request."""

    state: PendingState
    client: Client
    decision: Decision


class InteractionApi:
    """The admin side (describe, accept, reject) and the browser side (redeem)."""

    def __init__(
        self,
        *,
        interactions: InteractionStore,
        admin_tokens: AdminTokenStore,
        clients: ClientStore,
        users: UserStore,
        apis: ApiStore,
        authorize: AuthorizeEndpoint,
        clock: Clock,
        issuer: str,
    ) -> None:
        self._authorize = authorize
        self._interactions = interactions
        self._admin_tokens = admin_tokens
        self._clients = clients
        self._users = users
        self._apis = apis
        self._clock = clock
        self._issuer = issuer

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
            record, state = await self._pending(interaction_id)
            client = await self._client(record)
        except OAuthError as error:
            return error_json(error)
        request = state.request
        names = {api.identifier: api.name or api.identifier for api in await self._apis.list_apis()}
        user = await self._users.get_user(state.user_id) if state.user_id else None
        body: dict[str, Any] = {
            "interaction": interaction_id,
            "stage": state.stage,
            "client": {"client_id": client.client_id, "name": client.name},
            "scopes": [
                {
                    "scope": scope,
                    "description": SCOPE_DESCRIPTIONS.get(scope)
                    or f"Use {names.get(request.audience, request.audience)} ({scope})",
                }
                for scope in request.scopes
            ],
            "audience": None if request.audience == self._issuer else request.audience,
            "redirect_uri": request.redirect_uri,
            "prompt": list(request.prompt),
            "max_age": request.max_age,
            "login_hint": request.login_hint,
            "ui_locales": request.ui_locales,
            "user": {"user_id": user.user_id, "username": user.username} if user else None,
            "expires_at": record.expires_at,
        }
        return JsonResult(200, body, dict(NO_STORE))

    async def accept_login(self, interaction_id: str, body: Mapping[str, Any]) -> JsonResult:
        """``PUT …/accept-login`` ``{"username" | "user_id", "remember"?, "amr"?}``."""
        try:
            record, state = await self._pending(interaction_id, "login")
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
            amr = body.get("amr", [])
            if (
                not isinstance(amr, list)
                or len(amr) > 8
                or not all(isinstance(a, str) and _AMR.match(a) for a in amr)
            ):
                raise InvalidRequest("amr must be a list of short RFC 8176 method names.")
            decision = LoginAccepted(user.user_id, _flag(body, "remember"), tuple(amr))
            return await self._answer(record, state, decision)
        except OAuthError as error:
            return error_json(error)

    async def accept_consent(self, interaction_id: str, body: Mapping[str, Any]) -> JsonResult:
        """``PUT …/accept-consent`` ``{"grant_scopes"?, "remember"?}``: a subset of the
        requested scopes (default: all of them)."""
        try:
            record, state = await self._pending(interaction_id, "consent")
            granted = body.get("grant_scopes", list(state.request.scopes))
            if not isinstance(granted, list) or not all(isinstance(s, str) for s in granted):
                raise InvalidRequest("grant_scopes must be a list of strings.")
            extra = sorted(set(granted) - set(state.request.scopes))
            if extra:
                raise InvalidRequest(f"Scope {extra[0]!r} was not requested.")
            scopes = tuple(s for s in state.request.scopes if s in granted)
            decision = ConsentAccepted(scopes, _flag(body, "remember"))
            return await self._answer(record, state, decision)
        except OAuthError as error:
            return error_json(error)

    async def reject(self, interaction_id: str, body: Mapping[str, Any]) -> JsonResult:
        """``PUT …/reject`` ``{"error"?, "error_description"?}`` → the client receives
        that error (default ``access_denied``)."""
        try:
            record, state = await self._pending(interaction_id)
            code = body.get("error", "access_denied")
            if code not in REJECT_ERRORS:
                raise InvalidRequest(f"error must be one of {', '.join(sorted(REJECT_ERRORS))}.")
            description = body.get("error_description")
            if description is not None and (
                not isinstance(description, str) or not _DESCRIPTION.match(description)
            ):
                raise InvalidRequest(
                    'error_description must be 1-200 printable ASCII characters without " or \\.'
                )
            return await self._answer(record, state, Rejected(str(code), description))
        except OAuthError as error:
            return error_json(error)

    async def redeem(self, verifier: str | None, csrf_cookie: str | None) -> Redeemed:
        """The browser followed ``redirect_to``: take the answer, once, and only in the
        browser that started the request (its CSRF cookie is bound to the interaction)."""
        if not verifier or len(verifier) > 128:
            raise AnswerExpired("The verifier is missing.")
        record = await self._interactions.take_interaction(fingerprint(verifier), self._clock.now())
        if record is None:
            raise AnswerExpired("This sign-in answer has expired or was already used.")
        if not csrf_cookie or not equal(fingerprint(csrf_cookie), record.csrf_hash):
            raise WrongBrowser(
                "This sign-in was started in another browser.", debug="csrf cookie mismatch"
            )
        state = PendingState.from_dict(record.request)
        if state.decision is None:
            raise AnswerExpired("This sign-in answer is incomplete.")
        client = await self._client(record)
        return Redeemed(state, client, state.decision)

    def rejection(self, redeemed: Redeemed) -> Redirect:
        """The app rejected: the client receives the error (RFC 6749 §4.1.2.1)."""
        decision = redeemed.decision
        if not isinstance(decision, Rejected):
            raise TypeError("not a rejection")
        request = redeemed.state.request
        return self._authorize.error_redirect(
            request.redirect_uri, decision.as_error(), request.state
        )

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

    async def _pending(
        self, interaction_id: str, stage: Stage | None = None
    ) -> tuple[Interaction, PendingState]:
        if not interaction_id or len(interaction_id) > 128:
            raise NotFoundError("No such interaction.")
        record = await self._interactions.get_interaction(fingerprint(interaction_id))
        if record is None or record.expires_at <= self._clock.now():
            raise NotFoundError("No such interaction: unknown, expired or already answered.")
        state = PendingState.from_dict(record.request)
        if state.decision is not None:
            raise NotFoundError("No such interaction: already answered.")
        if stage is not None and state.stage != stage:
            raise WrongStage(f"This interaction waits for {state.stage}, not {stage}.")
        return record, state

    async def _client(self, record: Interaction) -> Client:
        client = await self._clients.get_client(record.client_id)
        if client is None:
            raise NotFoundError("The client of this interaction no longer exists.")
        return client

    async def _answer(
        self, record: Interaction, state: PendingState, decision: Decision
    ) -> JsonResult:
        now = self._clock.now()
        # Taken atomically: of two answers to one interaction, one wins.
        if await self._interactions.take_interaction(record.interaction_hash, now) is None:
            raise NotFoundError("No such interaction: already answered.")
        verifier = token(32)
        await self._interactions.add_interaction(
            Interaction(
                interaction_hash=fingerprint(verifier),
                csrf_hash=record.csrf_hash,
                client_id=record.client_id,
                request=replace(state, decision=decision).to_dict(),
                created_at=now,
                expires_at=now + VERIFIER_TTL,
            )
        )
        log.info(
            "interaction answered",
            extra={
                "event": "interaction_answered",
                "client_id": record.client_id,
                "stage": state.stage,
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
