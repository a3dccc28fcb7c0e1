"""RFC 8628 §3.4-3.5: the device polls /token with its device code.

Until the person decides, a poll answers ``authorization_pending``; one sooner than
``interval`` after the last answers ``slow_down`` and the interval grows by 5 seconds
for every later poll. A denial answers ``access_denied``, an expired request
``expired_token``. An approval stored an authorization code (protocol/device.py),
redeemed here by the code grant's own single-use write: of any number of concurrent
polls, on any instance, one gets the tokens. Later polls get ``invalid_grant`` and
revoke nothing: the device code never leaves the device and the server (unlike an
authorization code it does not pass through a browser), so a second poll is the
device racing itself, not a replay by a thief.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from tollhouse.clock import Clock
from tollhouse.errors import (
    AuthorizationPending,
    DeviceAccessDenied,
    ExpiredToken,
    InvalidGrant,
    PollTooFast,
    UnauthorizedClient,
)
from tollhouse.models import AuthorizationCode, Client, DeviceAuthorization, DeviceStatus, GrantType
from tollhouse.protocol.events import NO_EVENTS, DeviceFlow, Events
from tollhouse.protocol.requests import TokenRequest, require
from tollhouse.protocol.results import JsonResult
from tollhouse.randomness import fingerprint
from tollhouse.storage.ports import CodeStore, DeviceStore

SLOW_DOWN_STEP = 5
"""RFC 8628 §3.5: "the interval MUST be increased by 5 seconds"."""
MAX_DEVICE_CODE = 256


class CodeRedeemer(Protocol):
    """The code grant's redemption (grants/authorization_code.py)."""

    async def redeem(
        self, client: Client, code: AuthorizationCode, now: int
    ) -> JsonResult | None: ...


class DeviceCodeGrant:
    grant_type: str = GrantType.DEVICE_CODE
    parameters: ClassVar[tuple[str, ...]] = ("device_code",)

    def __init__(
        self,
        devices: DeviceStore,
        codes: CodeStore,
        redeemer: CodeRedeemer,
        clock: Clock,
        *,
        events: Events = NO_EVENTS,
    ) -> None:
        self._devices = devices
        self._codes = codes
        self._redeemer = redeemer
        self._clock = clock
        self._events = events

    async def handle(self, client: Client, request: TokenRequest) -> JsonResult:
        if GrantType.DEVICE_CODE not in client.grant_types:
            raise UnauthorizedClient("This client may not use the device_code grant.")
        presented = require(request.params, "device_code")
        device = None
        if len(presented) <= MAX_DEVICE_CODE:
            device = await self._devices.get_device_authorization(fingerprint(presented))
        if device is None:
            raise InvalidGrant("The device code is unknown.")
        if device.client_id != client.client_id:
            # RFC 8628 §3.4 binds the code to the client that asked for it.
            raise InvalidGrant(
                "The device code was issued to another client.",
                debug=f"device code of {device.client_id} presented by {client.client_id}",
            )
        now = self._clock.now()
        if device.expires_at <= now:
            self._events.emit(DeviceFlow("expired", client.client_id))
            raise ExpiredToken()
        if device.status == DeviceStatus.DENIED:
            raise DeviceAccessDenied()
        if device.status == DeviceStatus.PENDING:
            await self._pending(device, now)
        return await self._redeem(client, device, now)

    async def _pending(self, device: DeviceAuthorization, now: int) -> None:
        """Always raises: ``slow_down`` or ``authorization_pending`` (RFC 8628 §3.5)."""
        last = device.last_polled_at
        if last is not None and now - last < device.interval:
            interval = device.interval + SLOW_DOWN_STEP
            await self._devices.record_device_poll(device.device_code_hash, now, interval)
            raise PollTooFast(f"Polling too fast; wait at least {interval} seconds.")
        await self._devices.record_device_poll(device.device_code_hash, now, device.interval)
        raise AuthorizationPending()

    async def _redeem(self, client: Client, device: DeviceAuthorization, now: int) -> JsonResult:
        code = await self._codes.get_code(device.code_hash)
        issued = None
        if code is not None and code.used_at is None:
            issued = await self._redeemer.redeem(client, code, now)
        if issued is None:
            raise InvalidGrant("The device code was already used.")
        return issued
