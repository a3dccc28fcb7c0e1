"""Going on with a pending authorization request once the user has answered.

The built-in login and consent pages (web/interaction.py) and the interaction API
(protocol/endpoints/interaction.py) finish the same way, here: a login establishes the
session (protocol/sessions.py) with how the user authenticated (``amr``) and resumes
the request (OIDC Core §3.1.2.3); a consent is recorded and a code issued
(§3.1.2.4, RFC 6749 §4.1.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tollhouse.models import Client
from tollhouse.protocol.endpoints.authorize import (
    AuthorizeEndpoint,
    AuthorizeOutcome,
    NeedsConsent,
    NeedsLogin,
)
from tollhouse.protocol.events import NO_EVENTS, ConsentDecided, Events, LoginFailed, LoginSucceeded
from tollhouse.protocol.interactions import (
    InteractionRefused,
    Interactions,
    Pending,
    PendingState,
    Stage,
    Started,
)
from tollhouse.protocol.login import PasswordLogin
from tollhouse.protocol.mfa import (
    MFA_ACR,
    MFA_AMR,
    PHR_ACR,
    Enrollment,
    Policy,
    SecondFactors,
)
from tollhouse.protocol.passkeys import PASSKEY_AMR, PASSWORDLESS_AMR, Passkeys, new_challenge
from tollhouse.protocol.requests import AuthorizationRequest
from tollhouse.protocol.results import Redirect
from tollhouse.protocol.sessions import SessionCookie, SessionService, SignedIn
from tollhouse.storage.ports import ApiStore, UserStore

PASSWORD = ("pwd",)
"""RFC 8176 §2: the built-in page authenticates with a password."""


@dataclass(frozen=True, slots=True)
class LoggedIn:
    """What comes after a login: the request's next step and the session cookie."""

    outcome: AuthorizeOutcome
    cookie: SessionCookie


@dataclass(frozen=True, slots=True)
class ConsentView:
    """What the consent page names besides the request: the user, the API, and the
    plain words its operator gave for some of its scopes (``apis create
    --scope-description``)."""

    username: str
    api_name: str | None
    scope_descriptions: dict[str, str] = field(default_factory=dict)


class SignIn:
    def __init__(
        self,
        *,
        interactions: Interactions,
        sessions: SessionService,
        authorize: AuthorizeEndpoint,
        login: PasswordLogin,
        users: UserStore,
        apis: ApiStore,
        issuer: str,
        events: Events = NO_EVENTS,
        factors: SecondFactors | None = None,
        mfa_policy: Policy = "optional",
        passkeys: Passkeys | None = None,
    ) -> None:
        self._passkeys = passkeys
        self._factors = factors
        self._mfa_policy: Policy = mfa_policy if factors is not None else "off"
        self._interactions = interactions
        self._sessions = sessions
        self._authorize = authorize
        self._login = login
        self._users = users
        self._apis = apis
        self._issuer = issuer
        self._events = events

    async def start(self, outcome: NeedsLogin | NeedsConsent, csrf: str | None) -> Started:
        """The request needs the user: keep it as an interaction for the page to show."""
        if isinstance(outcome, NeedsLogin):
            state = PendingState(outcome.request, "login")
        else:
            state = PendingState(outcome.request, "consent", outcome.signed_in.user_id)
        return await self._interactions.start(state, csrf)

    async def open(self, interaction_id: str | None, stage: Stage) -> Pending:
        """The interaction a built-in page shows or submits (refused when the operator's
        own page replaces it)."""
        return await self._interactions.open(interaction_id, stage)

    def check_csrf(self, pending: Pending, sent: str | None, cookie: str | None) -> None:
        self._interactions.check_csrf(pending, sent, cookie)

    async def check_password(self, pending: Pending, username: str, password: str) -> str | None:
        """The user id when the password is right; a failure is reported as an event."""
        user = await self._login.authenticate(username, password)
        if user is None:
            self._events.emit(LoginFailed(pending.client.client_id))
            return None
        return user.user_id

    async def log_in(
        self,
        pending: Pending,
        user_id: str,
        session_cookie: str | None,
        *,
        amr: tuple[str, ...] = PASSWORD,
        remember: bool = True,
    ) -> LoggedIn:
        """A built-in page signed the user in: the interaction is taken (once)."""
        await self._interactions.take(pending)
        return await self.finish_login(
            pending.request, pending.client, user_id, session_cookie, amr=amr, remember=remember
        )

    async def finish_login(
        self,
        request: AuthorizationRequest,
        client: Client,
        user_id: str,
        session_cookie: str | None,
        *,
        amr: tuple[str, ...],
        remember: bool,
        acr: str | None = None,
    ) -> LoggedIn:
        """Establish the session and resume the request as the signed-in user."""
        established = await self._sessions.establish(
            session_cookie, user_id, amr, acr=acr, remember=remember
        )
        self._events.emit(LoginSucceeded(user_id, client.client_id))
        outcome = await self._authorize.resume(
            request, client, established.signed_in, just_signed_in=True
        )
        return LoggedIn(outcome, established.cookie)

    @property
    def acr_values_supported(self) -> tuple[str, ...]:
        """What discovery lists (OIDC Discovery ``acr_values_supported``)."""
        if self._mfa_policy == "off":
            return ()
        return (MFA_ACR, PHR_ACR) if self.passwordless else (MFA_ACR,)

    async def account_name(self, user_id: str) -> str:
        """The name an authenticator app shows for the user: the username."""
        user = await self._users.get_user(user_id)
        return user.username if user else user_id

    async def second_step(self, pending: Pending, user_id: str, csrf: str | None) -> Started | None:
        """After the right password: the page asking for the second factor (``otp``),
        or setting one up when this sign-in needs one and the user has none
        (``enroll``); None when the password is enough. The login interaction is
        taken, so the password form cannot be answered again."""
        if self._factors is None or self._mfa_policy == "off":
            return None
        if pending.request.phr and not await self._has_passkey(user_id):
            return None  # the request then ends in unmet_authentication_requirements
        if await self._factors.has_factor(user_id):
            stage: Stage = "otp"
        elif pending.request.mfa:
            stage = "enroll"
        else:
            return None
        await self._interactions.take(pending)
        if stage == "enroll":
            account = await self.account_name(user_id)
            await self._factors.enroll(user_id, account, confirmed=False, by="sign_in")
        challenge = new_challenge() if stage == "otp" else None
        state = PendingState(pending.request, stage, user_id, challenge=challenge)
        return await self._interactions.start(state, csrf)

    async def passkey_options(self, pending: Pending) -> str | None:
        """The WebAuthn request options of the ``otp`` page, when the user has passkeys,
        or of the ``passkey`` page (any passkey for this server)."""
        user_id, challenge = pending.state.user_id, pending.state.challenge
        if self._passkeys is None or challenge is None:
            return None
        if pending.state.stage == "passkey":
            return self._passkeys.discoverable_options(challenge)
        return None if user_id is None else await self._passkeys.options_for(user_id, challenge)

    async def _has_passkey(self, user_id: str) -> bool:
        return self._passkeys is not None and await self._passkeys.has_passkey(user_id)

    async def has_totp(self, pending: Pending) -> bool:
        """Whether the ``otp`` page should ask for an authenticator app's code."""
        user_id = pending.state.user_id
        return bool(self._factors and user_id and await self._factors.has_totp(user_id))

    @property
    def passwordless(self) -> bool:
        """Whether the login page offers signing in with a passkey (and ``phr``)."""
        return self._passkeys is not None and self._passkeys.usable and self._mfa_policy != "off"

    async def start_passwordless(self, pending: Pending, csrf: str | None) -> Started:
        """The login page's "Sign in with a passkey": the login interaction is taken and
        a ``passkey`` one, with its own challenge, replaces it."""
        if not self.passwordless:
            raise InteractionRefused("error.no_interaction", "No sign-in request is pending.")
        await self._interactions.take(pending)
        state = PendingState(pending.request, "passkey", challenge=new_challenge())
        return await self._interactions.start(state, csrf)

    async def back_to_password(self, pending: Pending, csrf: str | None) -> Started:
        """From the ``passkey`` page back to the password form, as a new interaction."""
        await self._interactions.take(pending)
        return await self._interactions.start(PendingState(pending.request, "login"), csrf)

    async def check_passwordless(
        self, pending: Pending, response: str, session_cookie: str | None
    ) -> LoggedIn | None:
        """The browser's assertion on the ``passkey`` page; None: refused."""
        challenge = pending.state.challenge
        user_id = None
        if self._passkeys is not None and challenge and pending.state.stage == "passkey":
            user_id = await self._passkeys.authenticate_discoverable(challenge, response)
        if user_id is None or await self._users.get_user(user_id) is None:
            self._events.emit(LoginFailed(pending.client.client_id))
            return None
        await self._interactions.take(pending)
        return await self.finish_login(
            pending.request,
            pending.client,
            user_id,
            session_cookie,
            amr=PASSWORDLESS_AMR,
            acr=PHR_ACR,
            remember=True,
        )

    async def enrollment(self, pending: Pending) -> Enrollment | None:
        """The authenticator the ``enroll`` page shows (its secret and URI)."""
        user_id = pending.state.user_id
        if self._factors is None or user_id is None:
            return None
        return await self._factors.pending(user_id, await self.account_name(user_id))

    async def check_second_factor(
        self, pending: Pending, code: str, session_cookie: str | None, passkey: str = ""
    ) -> LoggedIn | None:
        """The code typed on the ``otp`` (a TOTP or recovery code) or ``enroll`` page
        (the new authenticator's first code); None: refused, the page asks again."""
        user_id = pending.state.user_id
        if self._factors is None or user_id is None:
            return None
        if passkey:
            accepted = await self._check_passkey(pending, user_id, passkey)
            amr, acr = PASSKEY_AMR, PHR_ACR
        elif pending.state.stage == "enroll":
            accepted = await self._factors.confirm(user_id, code, by="sign_in")
            amr, acr = MFA_AMR, MFA_ACR
        else:
            # A code is not phishing-resistant: refused when the request needs a passkey.
            accepted = not pending.request.phr and bool(await self._factors.verify(user_id, code))
            amr, acr = MFA_AMR, MFA_ACR
        if not accepted:
            self._events.emit(LoginFailed(pending.client.client_id))
            return None
        await self._interactions.take(pending)
        return await self.finish_login(
            pending.request,
            pending.client,
            user_id,
            session_cookie,
            amr=amr,
            acr=acr,
            remember=True,
        )

    async def _check_passkey(self, pending: Pending, user_id: str, response: str) -> bool:
        challenge = pending.state.challenge
        if self._passkeys is None or challenge is None or pending.state.stage != "otp":
            return False
        return await self._passkeys.authenticate(user_id, challenge, response)

    async def decide_consent(
        self, pending: Pending, signed_in: SignedIn, *, allowed: bool
    ) -> Redirect:
        """The user allowed or denied on the built-in page (taken once)."""
        await self._interactions.take(pending)
        request = pending.request
        self._events.emit(
            ConsentDecided(
                pending.client.client_id, signed_in.user_id, allowed=allowed, scopes=request.scopes
            )
        )
        return await self._authorize.consent(request, signed_in, allowed=allowed)

    async def consent_view(self, pending: Pending, signed_in: SignedIn) -> ConsentView:
        user = await self._users.get_user(signed_in.user_id)
        requested = pending.request.audience
        audience = requested if requested != self._issuer else None
        api = await self._apis.get_api(audience) if audience else None
        api_name = (api.name or api.identifier) if api else audience
        username = user.username if user else signed_in.user_id
        return ConsentView(username, api_name, dict(api.descriptions) if api else {})
