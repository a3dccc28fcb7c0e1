"""RFC 8628 §3.1-3.2 device authorization endpoint.

The client authenticates as at /token (RFC 8628 §3.1: "the client MUST authenticate"
when it is confidential; a public client names itself with ``client_id``). ``scope``
and ``resource`` are decided by the same rules as at /authorize
(protocol/scopes.py: RFC 6749 §3.3, RFC 8707). The device code is 256-bit random and
stored as its fingerprint, like every bearer secret; the user code is
protocol/user_codes.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tollhouse.clock import Clock
from tollhouse.errors import Conflict, InvalidClient, OAuthError, UnauthorizedClient
from tollhouse.models import Client, DeviceAuthorization, GrantType
from tollhouse.protocol import scopes, user_codes
from tollhouse.protocol.api_index import ApiIndexCache
from tollhouse.protocol.client_auth import BASIC_CHALLENGE, ClientAuthenticator
from tollhouse.protocol.device import VERIFICATION_PATH
from tollhouse.protocol.endpoints.token import Admission
from tollhouse.protocol.events import NO_EVENTS, DeviceFlow, Events
from tollhouse.protocol.requests import TokenRequest
from tollhouse.protocol.results import NO_STORE, JsonResult, add_query, error_json
from tollhouse.randomness import fingerprint, token
from tollhouse.storage.ports import DeviceStore

MAX_USER_AGENT = 200
ATTEMPTS = 3
"""New user codes tried when one is taken by a pending request (rare: 2.6·10^10)."""


@dataclass(frozen=True, slots=True)
class DeviceOrigin:
    """Where the request came from, shown to the person asked to approve it."""

    ip: str | None
    user_agent: str | None


class DeviceAuthorizationEndpoint:
    def __init__(
        self,
        *,
        authenticator: ClientAuthenticator,
        api_index: ApiIndexCache,
        devices: DeviceStore,
        clock: Clock,
        issuer: str,
        ttl: int,
        interval: int,
        default_client_scopes: Sequence[str] | None = None,
        events: Events = NO_EVENTS,
    ) -> None:
        self._authenticator = authenticator
        self._api_index = api_index
        self._devices = devices
        self._clock = clock
        self._issuer = issuer
        self._ttl = ttl
        self._interval = interval
        self._default_client_scopes = default_client_scopes
        self._events = events

    async def handle(
        self, request: TokenRequest, origin: DeviceOrigin, admit: Admission | None = None
    ) -> JsonResult:
        """Never raises an ``OAuthError``: it becomes an RFC 6749 §5.2 JSON response.
        ``admit`` (the per-client limit) runs once the client has authenticated, so a
        failed authentication never spends it."""
        try:
            client = await self._authenticator.authenticate(request.credentials)
            refused = None if admit is None else await admit(client)
            if refused is not None:
                return refused
            if GrantType.DEVICE_CODE not in client.grant_types:
                raise UnauthorizedClient("This client may not use the device authorization grant.")
            grant = scopes.resolve(
                scopes.parse(request.params.get("scope")),
                request.params.get("resource"),
                await self._api_index.get(),
                client=client,
                issuer=self._issuer,
                default_client_scopes=self._default_client_scopes,
            )
            return await self._start(client, grant, origin)
        except InvalidClient as error:
            return error_json(error, headers={"WWW-Authenticate": BASIC_CHALLENGE})
        except OAuthError as error:
            return error_json(error)

    async def _start(self, client: Client, grant: scopes.Grant, origin: DeviceOrigin) -> JsonResult:
        device_code = token(32)
        now = self._clock.now()
        user_agent = _printable(origin.user_agent or "")[:MAX_USER_AGENT] or None
        for attempt in range(ATTEMPTS):
            user_code = user_codes.generate()
            try:
                await self._devices.add_device_authorization(
                    DeviceAuthorization(
                        device_code_hash=fingerprint(device_code),
                        user_code_hash=fingerprint(user_code.replace("-", "")),
                        client_id=client.client_id,
                        scopes=grant.scopes,
                        audience=grant.audience,
                        created_at=now,
                        expires_at=now + self._ttl,
                        interval=self._interval,
                        ip=origin.ip,
                        user_agent=user_agent,
                    )
                )
                break
            except Conflict:
                if attempt == ATTEMPTS - 1:
                    raise
        self._events.emit(DeviceFlow("requested", client.client_id))
        verification_uri = self._issuer + VERIFICATION_PATH
        body = {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": add_query(verification_uri, {"user_code": user_code}),
            "expires_in": self._ttl,
            "interval": self._interval,
        }
        return JsonResult(200, body, dict(NO_STORE))


def _printable(text: str) -> str:
    """The user agent as shown on the consent page: printable ASCII only."""
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text).strip()
