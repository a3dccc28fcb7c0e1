"""RFC 8628 §3.3: the person's side of the device flow, and the operator's.

A code typed at ``/device`` (web/device.py) finds its request; the request becomes an
:class:`~tollhouse.protocol.requests.AuthorizationRequest` carrying the device's
fingerprint and goes through the same login and consent as ``/authorize`` — the
built-in pages or the operator's app through the interaction API. It always asks for
consent (RFC 8628 §5.4: the person confirms which device they let in). An approval
stores an authorization code under the request's
:attr:`~tollhouse.models.DeviceAuthorization.code_hash`, which the device redeems
when it next polls (grants/device_code.py); a denial is recorded for that poll.
"""

from __future__ import annotations

import logging

from tollhouse.clock import Clock
from tollhouse.errors import Conflict
from tollhouse.models import AuthorizationCode, Client, DeviceAuthorization, DeviceStatus
from tollhouse.protocol import user_codes
from tollhouse.protocol.events import NO_EVENTS, DeviceFlow, Events
from tollhouse.protocol.requests import AuthorizationRequest
from tollhouse.protocol.results import Redirect
from tollhouse.protocol.sessions import SignedIn
from tollhouse.randomness import fingerprint
from tollhouse.storage.ports import ClientStore, CodeStore, DeviceStore, SessionStore

log = logging.getLogger("tollhouse.device")

VERIFICATION_PATH = "/device"
APPROVED, DENIED, EXPIRED = "approved", "denied", "expired"
"""The ``result`` the page shows once the person has answered."""


def user_code_hash(typed: str | None) -> str | None:
    """The lookup key of a typed user code, or None if it cannot be one."""
    letters = user_codes.normalize(typed)
    return None if letters is None else fingerprint(letters)


class DeviceVerification:
    """Finds the request behind a user code and carries out the person's answer."""

    def __init__(
        self,
        *,
        devices: DeviceStore,
        codes: CodeStore,
        clients: ClientStore,
        clock: Clock,
        issuer: str,
        sessions: SessionStore | None = None,
        events: Events = NO_EVENTS,
    ) -> None:
        self._devices = devices
        self._codes = codes
        self._clients = clients
        self._clock = clock
        self._issuer = issuer
        self._sessions = sessions
        self._events = events

    async def pending(self, typed: str | None) -> DeviceAuthorization | None:
        """The request waiting for this user code; None for a wrong, decided or expired
        one (the page does not say which)."""
        key = user_code_hash(typed)
        if key is None:
            return None
        found = await self._devices.find_device_authorization(key)
        if found is None or found.status != DeviceStatus.PENDING:
            return None
        return found if found.expires_at > self._clock.now() else None

    async def start(self, typed: str | None) -> tuple[AuthorizationRequest, Client] | None:
        """The authorization request a person's code starts, with its client; None (and
        an audit event) when the code matches no pending request."""
        device = await self.pending(typed)
        client = None if device is None else await self._clients.get_client(device.client_id)
        if device is None or client is None:
            self._events.emit(DeviceFlow("wrong_user_code"))
            return None
        return self.request_for(device, client), client

    async def of(self, request: AuthorizationRequest) -> DeviceAuthorization | None:
        """The device request an authorization request approves (the consent page
        shows where the device asked from)."""
        if request.device is None:
            return None
        return await self._devices.get_device_authorization(request.device)

    def request_for(self, device: DeviceAuthorization, client: Client) -> AuthorizationRequest:
        return AuthorizationRequest(
            client_id=client.client_id,
            redirect_uri=self._issuer + VERIFICATION_PATH,
            redirect_uri_sent=False,
            scopes=device.scopes,
            audience=device.audience,
            state=None,
            nonce=None,
            code_challenge=None,
            code_challenge_method=None,
            prompt=("consent",),
            device=device.device_code_hash,
        )

    async def approve(self, request: AuthorizationRequest, signed_in: SignedIn) -> Redirect:
        """Store the code the device will redeem, then record the approval; if the
        request was decided or expired meanwhile, the code is spent unused."""
        device = await self.of(request)
        now = self._clock.now()
        if device is None or device.status != DeviceStatus.PENDING or device.expires_at <= now:
            return self._result(EXPIRED)
        code = _code_for(device, request, signed_in, now)
        try:
            await self._codes.add_code(code)
        except Conflict:
            return self._result(EXPIRED)
        user = signed_in.user_id
        if not await self._devices.decide_device_authorization(
            device.device_code_hash, DeviceStatus.APPROVED, user, now
        ):
            await self._codes.consume_code(code.code_hash, now)
            return self._result(EXPIRED)
        if signed_in.sid and self._sessions is not None:
            # For back-channel logout: which clients got tokens in this session.
            await self._sessions.add_session_client(signed_in.sid, device.client_id)
        self._events.emit(DeviceFlow("approved", device.client_id, user))
        return self._result(APPROVED)

    async def deny(self, request: AuthorizationRequest) -> Redirect:
        device = await self.of(request)
        if device is None or not await self._devices.decide_device_authorization(
            device.device_code_hash, DeviceStatus.DENIED, None, self._clock.now()
        ):
            return self._result(EXPIRED)
        self._events.emit(DeviceFlow("denied", device.client_id))
        return self._result(DENIED)

    async def list_pending(self) -> list[DeviceAuthorization]:
        return await self._devices.list_device_authorizations(self._clock.now())

    async def deny_user_code(self, typed: str) -> DeviceAuthorization | None:
        """``tollhouse device deny``: the denied request, or None if no pending one has
        this code."""
        device = await self.pending(typed)
        if device is None or not await self._devices.decide_device_authorization(
            device.device_code_hash, DeviceStatus.DENIED, None, self._clock.now()
        ):
            return None
        self._events.emit(DeviceFlow("denied", device.client_id))
        return device

    def _result(self, result: str) -> Redirect:
        return Redirect(f"{self._issuer}{VERIFICATION_PATH}?result={result}")


def _code_for(
    device: DeviceAuthorization, request: AuthorizationRequest, signed_in: SignedIn, now: int
) -> AuthorizationCode:
    """The approval as an authorization code: the scopes the person allowed (the
    interaction API may narrow them) and how they signed in, for the tokens."""
    return AuthorizationCode(
        code_hash=device.code_hash,
        client_id=device.client_id,
        user_id=signed_in.user_id,
        redirect_uri="",
        scopes=request.scopes,
        audience=device.audience,
        code_challenge=None,
        code_challenge_method=None,
        created_at=now,
        expires_at=device.expires_at,
        auth_time=signed_in.auth_time,
        session_id=signed_in.sid or None,
        amr=signed_in.amr,
        acr=signed_in.acr,
    )
