"""The sensor hub: a device without a browser that reports readings to the sensors API
once a person has approved it (the device authorization grant, RFC 8628).

1. Discovery gives the ``device_authorization_endpoint`` and the ``token_endpoint``.
2. ``POST /device_authorization`` as the public client ``sensor-hub`` for the scope
   ``send_readings`` (§3.1); the user code and ``verification_uri_complete`` go to the
   console (``<data-dir>/logs/sensor-hub.log``) and to the status page.
3. Poll ``/token`` every ``interval`` seconds, 5 s more after each ``slow_down`` (§3.5);
   ``access_denied`` or ``expired_token`` start again with a new code.
4. Once approved, ``POST /readings`` every two seconds with the access token, refreshed
   (rotation: the new refresh token is kept) when a fifth of its lifetime is left or when
   the API answers 401. A refused refresh starts again at step 2.

The status page (``GET /``, ``/status.json``) listens on 127.0.0.1 (``DEMO_HUB_PORT``).
Run with ``python -m demo.sensor_hub``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import html
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from demo.settings import HOST, HUB_CLIENT_ID, SEND_SCOPE, DemoSettings

log = logging.getLogger("demo.sensor_hub")

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SEND_EVERY = 2.0
RETRY_AFTER = 5.0
SLOW_DOWN = 5
"""Seconds added to the interval after each ``slow_down`` (RFC 8628 §3.5)."""
USER_AGENT = "sensor-hub/1.0 (Tollhouse demo; substation North)"
"""Shown to the person approving the hub, with its address (RFC 8628 §5.4)."""
SENSOR = {"sensor": "hub-north-ambient", "name": "Substation North ambient (hub)", "unit": "°C"}


@dataclass
class HubStatus:
    """What the status page shows."""

    state: str = "starting"
    """starting, waiting (for a person), sending, denied, expired, error."""
    user_code: str | None = None
    verification_uri: str | None = None
    verification_uri_complete: str | None = None
    sent: int = 0
    refreshes: int = 0
    subject: str | None = None
    last_value: float | None = None
    message: str = ""


@dataclass
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_at: float
    lifetime: float

    @classmethod
    def of(cls, body: dict[str, Any]) -> Tokens:
        lifetime = float(body.get("expires_in", 60))
        return cls(
            body["access_token"], body.get("refresh_token"), time.time() + lifetime, lifetime
        )


class Hub:
    """The device's side of the flow, then its reports; one instance, one task."""

    def __init__(
        self,
        settings: DemoSettings,
        http: httpx.AsyncClient,
        status: HubStatus,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings, self.http, self.status, self.sleep = settings, http, status, sleep
        self.endpoints: dict[str, str] = {}

    async def run(self) -> None:
        while True:
            try:
                tokens = await self.authorize()
                if tokens is not None:
                    await self.report(tokens)
            except httpx.HTTPError as exc:
                self.show("error", f"the identity provider cannot be reached: {exc}")
            except (ValueError, KeyError) as exc:  # a body that is not the JSON expected
                self.show("error", f"unexpected answer from the identity provider: {exc!r}")
            await self.sleep(RETRY_AFTER)

    def show(self, state: str, message: str = "") -> None:
        self.status.state, self.status.message = state, message
        log.info("%s%s", state, f": {message}" if message else "")

    async def discover(self) -> dict[str, str]:
        if not self.endpoints:
            url = f"{self.settings.issuer}/.well-known/openid-configuration"
            found = (await self.http.get(url)).raise_for_status().json()
            self.endpoints = {
                "device": found["device_authorization_endpoint"],
                "token": found["token_endpoint"],
            }
        return self.endpoints

    async def authorize(self) -> Tokens | None:
        """RFC 8628 §3.1-3.5: a code for a person to approve, then the polls."""
        endpoints = await self.discover()
        data = {"client_id": HUB_CLIENT_ID, "scope": SEND_SCOPE}
        answer = await self.http.post(endpoints["device"], data=data)
        if answer.status_code != 200:
            self.show("error", f"/device_authorization answered {answer.text}")
            return None
        body = answer.json()
        self.status.user_code = body["user_code"]
        self.status.verification_uri = body["verification_uri"]
        self.status.verification_uri_complete = body["verification_uri_complete"]
        self.show("waiting")
        print(
            f"Sensor hub: to connect me, open {body['verification_uri']} and enter "
            f"{body['user_code']} (or open {body['verification_uri_complete']})",
            flush=True,
        )
        return await self.poll(endpoints["token"], body)

    async def poll(self, token_endpoint: str, body: dict[str, Any]) -> Tokens | None:
        interval = int(body.get("interval", 5))
        deadline = time.monotonic() + int(body["expires_in"])
        data = {"grant_type": DEVICE_GRANT, "device_code": body["device_code"]}
        while time.monotonic() < deadline:
            await self.sleep(interval)
            answer = await self.http.post(token_endpoint, data={**data, "client_id": HUB_CLIENT_ID})
            if answer.status_code == 200:
                self.status.user_code = self.status.verification_uri_complete = None
                return Tokens.of(answer.json())
            error = answer.json().get("error")
            if error == "authorization_pending":
                continue
            if error == "slow_down":
                interval += SLOW_DOWN
                continue
            self.show("denied" if error == "access_denied" else "expired", str(error))
            return None
        self.show("expired", "nobody approved the hub in time")
        return None

    async def report(self, tokens: Tokens) -> None:
        """Send a reading every :data:`SEND_EVERY` seconds until the tokens run out."""
        self.show("sending")
        while True:
            if tokens.expires_at - time.time() < tokens.lifetime / 5:
                refreshed = await self.refresh(tokens)
                if refreshed is None:
                    return
                tokens = refreshed
            try:
                answer = await self.send(tokens)
                if answer.status_code == 401:
                    refreshed = await self.refresh(tokens)
                    if refreshed is None:
                        return
                    tokens = refreshed
                    answer = await self.send(tokens)
            except httpx.HTTPError as exc:  # the API is down: keep the tokens, try later
                self.show("sending", f"the sensors API cannot be reached: {exc}")
                await self.sleep(SEND_EVERY)
                continue
            if answer.status_code == 201:
                self.status.sent += 1
                self.status.subject = answer.json().get("subject")
                self.status.message = ""
            else:
                self.show("sending", f"the sensors API answered {answer.status_code}")
            await self.sleep(SEND_EVERY)

    async def send(self, tokens: Tokens) -> httpx.Response:
        now = time.time()
        value = round(21.0 + 4.0 * math.sin(2 * math.pi * now / 300), 1)
        self.status.last_value = value
        return await self.http.post(
            f"{self.settings.api_url}/readings",
            json={**SENSOR, "value": value},
            headers={"Authorization": f"Bearer {tokens.access_token}"},
        )

    async def refresh(self, tokens: Tokens) -> Tokens | None:
        """``grant_type=refresh_token``; keeps the rotated refresh token. None when there
        is none or it is refused: the hub asks a person again."""
        if tokens.refresh_token is None:
            self.show("expired", "the access token expired and there is no refresh token")
            return None
        data = {
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token,
            "client_id": HUB_CLIENT_ID,
        }
        answer = await self.http.post((await self.discover())["token"], data=data)
        if answer.status_code != 200:
            self.show("expired", f"the refresh was refused: {answer.json().get('error')}")
            return None
        self.status.refreshes += 1
        fresh = Tokens.of(answer.json())
        if fresh.refresh_token is None:
            fresh.refresh_token = tokens.refresh_token
        return fresh


def page(status: HubStatus) -> str:
    """The status page: no script; it reloads itself every two seconds."""
    e = html.escape
    if status.state == "waiting" and status.verification_uri_complete:
        link = e(status.verification_uri_complete)
        body = (
            f'<p>To connect this hub, open <a href="{link}">{link}</a><br>'
            f"or {e(status.verification_uri or '')} and enter the code</p>"
            f'<p class="code">{e(status.user_code or "")}</p>'
        )
    elif status.state == "sending":
        body = (
            f"<p>Connected: {status.sent} readings sent (last {status.last_value} °C), "
            f"{status.refreshes} token refreshes, for subject {e(status.subject or '?')}.</p>"
        )
    else:
        body = f"<p>{e(status.state)}</p>"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="refresh" content="2"><title>Sensor hub</title>'
        "<style>body{font-family:sans-serif;margin:2rem}.code{font-size:2rem;"
        "letter-spacing:.2em;font-family:monospace}</style></head><body>"
        f"<h1>Sensor hub</h1>{body}<p><small>{e(status.message)}</small></p></body></html>"
    )


def create_app(settings: DemoSettings) -> Starlette:
    holder: dict[str, Hub] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=10, headers={"User-Agent": USER_AGENT}) as http:
            hub = holder["hub"] = Hub(settings, http, HubStatus())
            task = asyncio.create_task(hub.run())
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def index(request: Request) -> Response:
        headers = {
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        }
        return HTMLResponse(page(holder["hub"].status), headers=headers)

    async def status_json(request: Request) -> Response:
        return JSONResponse(
            dataclasses.asdict(holder["hub"].status), headers={"Cache-Control": "no-store"}
        )

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [Route("/", index), Route("/status.json", status_json), Route("/healthz", healthz)]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="sensor-hub: %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per poll
    settings = DemoSettings.from_env()
    uvicorn.run(create_app(settings), host=HOST, port=settings.hub_port, log_level="warning")


if __name__ == "__main__":
    main()
