"""Pending authorization requests waiting for the user: *interactions*.

When ``/authorize`` needs a login or a consent, the request is kept server-side as an
interaction whose id travels to the page (ours, or the operator's own with
``TOLLHOUSE_LOGIN_URL`` / ``TOLLHOUSE_CONSENT_URL``: protocol/endpoints/interaction.py).
A per-browser CSRF token is bound to it (its fingerprint is stored), so an answer is
only accepted from the browser that started the request. Every interaction is taken
atomically when answered: of two answers, one wins. Only fingerprints of ids,
verifiers and CSRF tokens are stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tollhouse.clock import Clock
from tollhouse.errors import (
    AccessDenied,
    ConsentRequired,
    InvalidRequest,
    LoginRequired,
    OAuthError,
)
from tollhouse.models import Client, Interaction
from tollhouse.protocol.requests import AuthorizationRequest
from tollhouse.protocol.results import add_query
from tollhouse.randomness import equal, fingerprint, token
from tollhouse.storage.ports import ClientStore, InteractionStore

Stage = Literal["login", "consent", "otp", "enroll", "passkey"]
"""``otp``/``enroll``: the password was right, a second factor is asked or set up;
``passkey``: a password-less sign-in with a passkey, instead of the password form."""
_STAGES: tuple[Stage, ...] = ("login", "consent", "otp", "enroll", "passkey")
SECOND_STEP: frozenset[str] = frozenset({"otp", "enroll", "passkey"})
MAX_ID_LENGTH = 128
VERIFIER_TTL = 120
"""Seconds the browser has to follow an interaction API ``redirect_to``."""


class NotFoundError(OAuthError):
    """No such pending interaction (unknown, expired or already answered)."""

    error = "not_found"
    status = 404


class AnswerExpired(InvalidRequest):
    """The browser came back too late, twice, or with a made-up verifier."""


class WrongBrowser(InvalidRequest):
    """The browser that came back is not the one that started the request."""


class InteractionRefused(InvalidRequest):
    """A built-in page cannot go on; ``key`` names the message the page shows."""

    def __init__(self, key: str, description: str) -> None:
        super().__init__(description)
        self.key = key


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
    acr: str | None = None


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


def _decision_to_dict(decision: Decision | None) -> dict[str, Any] | None:
    if isinstance(decision, LoginAccepted):
        return {
            "kind": "login",
            "user_id": decision.user_id,
            "remember": decision.remember,
            "amr": list(decision.amr),
            "acr": decision.acr,
        }
    if isinstance(decision, ConsentAccepted):
        return {"kind": "consent", "scopes": list(decision.scopes), "remember": decision.remember}
    if isinstance(decision, Rejected):
        return {"kind": "reject", "error": decision.error, "description": decision.description}
    return None


def _decision_from_dict(raw: object) -> Decision | None:
    if not isinstance(raw, dict):
        return None
    kind = raw.get("kind")
    if kind == "login":
        amr = tuple(str(a) for a in raw.get("amr") or ())
        acr = raw.get("acr")
        return LoginAccepted(
            str(raw["user_id"]),
            bool(raw.get("remember")),
            amr,
            acr if isinstance(acr, str) else None,
        )
    if kind == "consent":
        scopes = tuple(str(s) for s in raw.get("scopes") or ())
        return ConsentAccepted(scopes, bool(raw.get("remember")))
    if kind == "reject":
        description = raw.get("description")
        return Rejected(str(raw["error"]), description if description else None)
    return None


@dataclass(frozen=True, slots=True)
class PendingState:
    """What an interaction record holds: the request, its stage, whose consent is asked
    (consent stage), and once answered through the API, the decision."""

    request: AuthorizationRequest
    stage: Stage = "login"
    user_id: str | None = None
    decision: Decision | None = None
    challenge: str | None = None
    """``otp``/``passkey`` stages: the WebAuthn challenge a passkey answers (used
    once, with the interaction)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "request": self.request.to_dict(),
            "stage": self.stage,
            "user_id": self.user_id,
            "decision": _decision_to_dict(self.decision),
            "challenge": self.challenge,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingState:
        request = AuthorizationRequest.from_dict(data["request"])
        raw_stage = data.get("stage")
        stage: Stage = next((s for s in _STAGES if s == raw_stage), "login")
        user_id = data.get("user_id")
        decision = _decision_from_dict(data.get("decision"))
        challenge = data.get("challenge")
        return cls(
            request,
            stage,
            user_id if isinstance(user_id, str) else None,
            decision,
            challenge if isinstance(challenge, str) else None,
        )


@dataclass(frozen=True, slots=True)
class Started:
    """A new interaction: where to send the browser, and its CSRF token (to set as a
    cookie; the same one when the browser already had one)."""

    location: str
    csrf: str


@dataclass(frozen=True, slots=True)
class Pending:
    """An unanswered interaction, with its client."""

    interaction_id: str
    record: Interaction
    state: PendingState
    client: Client

    @property
    def request(self) -> AuthorizationRequest:
        return self.state.request


@dataclass(frozen=True, slots=True)
class Redeemed:
    """An interaction API answer redeemed by the browser that started the request."""

    state: PendingState
    client: Client
    decision: Decision


class Interactions:
    """Creating, finding and taking interactions; used by the built-in pages and by
    the interaction API."""

    def __init__(
        self,
        *,
        store: InteractionStore,
        clients: ClientStore,
        clock: Clock,
        ttl: int,
        login_url: str | None = None,
        consent_url: str | None = None,
    ) -> None:
        self._store = store
        self._clients = clients
        self._clock = clock
        self._ttl = ttl
        self._external: dict[str, str | None] = {"login": login_url, "consent": consent_url}

    def external_page(self, stage: Stage) -> str | None:
        """The operator's own page for ``stage``, if one replaces ours."""
        return self._external.get(stage)

    async def start(self, state: PendingState, csrf: str | None) -> Started:
        """Keep the request and say where the user answers it. ``csrf``: the token the
        browser already holds, if any (one per browser, not per request)."""
        if not csrf or len(csrf) > MAX_ID_LENGTH:
            csrf = token(32)
        interaction_id = token(32)
        now = self._clock.now()
        await self._store.add_interaction(
            Interaction(
                interaction_hash=fingerprint(interaction_id),
                csrf_hash=fingerprint(csrf),
                client_id=state.request.client_id,
                request=state.to_dict(),
                created_at=now,
                expires_at=now + self._ttl,
            )
        )
        external = self.external_page(state.stage)
        if external:
            location = add_query(external, {"interaction": interaction_id})
        else:
            location = f"/{state.stage}?interaction={interaction_id}"
        return Started(location, csrf)

    async def find(self, interaction_id: str | None) -> tuple[Interaction, PendingState] | None:
        """The interaction if it is live and unanswered."""
        if not interaction_id or len(interaction_id) > MAX_ID_LENGTH:
            return None
        record = await self._store.get_interaction(fingerprint(interaction_id))
        if record is None or record.expires_at <= self._clock.now():
            return None
        state = PendingState.from_dict(record.request)
        return None if state.decision is not None else (record, state)

    async def client_of(self, record: Interaction) -> Client | None:
        return await self._clients.get_client(record.client_id)

    async def open(self, interaction_id: str | None, stage: Stage) -> Pending:
        """The interaction a built-in page shows or submits."""
        if self.external_page(stage):
            # The operator replaced this page: it must not be a way around theirs.
            raise InteractionRefused("error.no_interaction", "No sign-in request is pending.")
        if not interaction_id or len(interaction_id) > MAX_ID_LENGTH:
            raise InteractionRefused("error.no_interaction", "No sign-in request is pending.")
        found = await self.find(interaction_id)
        if found is None:
            raise InteractionRefused("error.interaction_expired", "The sign-in request expired.")
        record, state = found
        if stage != state.stage and {stage, state.stage} & SECOND_STEP:
            # The second step's pages take only their own interactions, and the
            # password and consent forms never take one of those.
            raise InteractionRefused("error.interaction_expired", "The sign-in request expired.")
        client = await self.client_of(record)
        if client is None:
            raise InteractionRefused("error.client_gone", "The application no longer exists.")
        return Pending(interaction_id, record, state, client)

    def check_csrf(self, pending: Pending, sent: str | None, cookie: str | None) -> None:
        """The form's token is the browser's cookie and the one bound to the request."""
        if (
            not sent
            or not cookie
            or not equal(sent, cookie)
            or not equal(fingerprint(sent), pending.record.csrf_hash)
        ):
            raise InteractionRefused("error.form_expired", "The form expired; try again.")

    async def take(self, pending: Pending) -> None:
        """Complete the interaction once: of two submissions of one form, one wins."""
        now = self._clock.now()
        if await self._store.take_interaction(pending.record.interaction_hash, now) is None:
            raise InteractionRefused("error.interaction_expired", "The sign-in request expired.")

    async def answer(self, pending: Pending, decision: Decision) -> str | None:
        """Take the interaction and keep ``decision`` under a new one-time verifier for
        the browser to redeem; None when another answer won."""
        now = self._clock.now()
        if await self._store.take_interaction(pending.record.interaction_hash, now) is None:
            return None
        verifier = token(32)
        await self._store.add_interaction(
            Interaction(
                interaction_hash=fingerprint(verifier),
                csrf_hash=pending.record.csrf_hash,
                client_id=pending.record.client_id,
                request=PendingState(
                    pending.request, pending.state.stage, pending.state.user_id, decision
                ).to_dict(),
                created_at=now,
                expires_at=now + VERIFIER_TTL,
            )
        )
        return verifier

    async def redeem(self, verifier: str | None, csrf_cookie: str | None) -> Redeemed:
        """The browser followed ``redirect_to``: take the answer, once, and only in the
        browser that started the request (its CSRF cookie is bound to the interaction)."""
        if not verifier or len(verifier) > MAX_ID_LENGTH:
            raise AnswerExpired("The verifier is missing.")
        record = await self._store.take_interaction(fingerprint(verifier), self._clock.now())
        if record is None:
            raise AnswerExpired("This sign-in answer has expired or was already used.")
        if not csrf_cookie or not equal(fingerprint(csrf_cookie), record.csrf_hash):
            raise WrongBrowser(
                "This sign-in was started in another browser.", debug="csrf cookie mismatch"
            )
        state = PendingState.from_dict(record.request)
        if state.decision is None:
            raise AnswerExpired("This sign-in answer is incomplete.")
        client = await self.client_of(record)
        if client is None:
            raise NotFoundError("The client of this interaction no longer exists.")
        return Redeemed(state, client, state.decision)
