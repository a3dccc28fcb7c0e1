"""The "sensors" API: simulated grid readings for tokens that carry ``read_sensors``,
and readings reported by devices (the sensor hub, demo/sensor_hub.py) with tokens that
carry ``send_readings``.

A resource server as docs/resource-server.md describes it: ``BearerAuthMiddleware``
checks every request's access token locally (RFC 9068 JWT, the IdP's JWKS, RFC 6750
errors) and ``RevocationFeed`` learns revoked tokens from the IdP's signed feed with
the API's own client credentials. ``GET /readings`` needs ``read_sensors``,
``POST /readings`` ``send_readings``: one middleware per scope, chosen by method.
``POST /breakers/{breaker}/open`` needs a passkey sign-in (``require_acr("phr")``,
RFC 9470 step-up).
Run with ``python -m demo.sensors``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import re
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from demo.settings import API_IDENTIFIER, HOST, SEND_SCOPE, Credentials, DemoSettings
from tollhouse.resource import BearerAuthMiddleware, RevocationFeed, TokenValidator, require_acr
from tollhouse.resource.asgi import ASGIApp

log = logging.getLogger("demo.sensors")

REQUIRED_SCOPE = "read_sensors"
FEED_INTERVAL = 2.0
"""Seconds between polls of the revocation feed: a revoked token is refused within this."""


@dataclass(frozen=True)
class Sensor:
    """A simulated instrument: a slow sine around ``base`` plus a little noise."""

    sensor_id: str
    name: str
    unit: str
    base: float
    amplitude: float
    period: float
    decimals: int
    low: float
    high: float

    def read(self, now: float, rng: random.Random) -> dict[str, Any]:
        phase = zlib.crc32(self.sensor_id.encode()) % 628 / 100
        wave = math.sin(2 * math.pi * now / self.period + phase)
        value = self.base + self.amplitude * wave + rng.gauss(0, self.amplitude / 20)
        value = round(value, self.decimals)
        return {
            "id": self.sensor_id,
            "name": self.name,
            # An integer when the sensor has no decimals: 78, not 78.0.
            "value": int(value) if self.decimals == 0 else value,
            "decimals": self.decimals,
            "unit": self.unit,
            "status": "ok" if self.low <= value <= self.high else "warning",
        }


SENSORS = (
    Sensor("grid-frequency", "Grid frequency", "Hz", 50.0, 0.04, 47, 3, 49.95, 50.05),
    Sensor("north-bus-voltage", "North substation bus voltage", "kV", 110.0, 1.8, 61, 1, 107, 113),
    Sensor("t1-oil-temp", "Transformer T1 oil temperature", "°C", 63.0, 6.0, 89, 1, 0, 68),
    Sensor("feeder-f3-load", "Feeder F3 load", "MW", 18.0, 3.5, 37, 2, 0, 21),
    Sensor("wind-w1-output", "Wind park W1 output", "MW", 42.0, 11.0, 53, 1, 0, 100),
    Sensor("battery-b1-soc", "Battery B1 state of charge", "%", 72.0, 9.0, 113, 0, 20, 95),
)  # fmt: skip


BREAKERS = {"f3": "Feeder F3 breaker", "t1": "Transformer T1 breaker"}
STEP_UP_MAX_AGE = 300
OPEN_BREAKER = require_acr("phr", max_age=STEP_UP_MAX_AGE, scopes=(REQUIRED_SCOPE,))
"""Opening a breaker needs a passkey sign-in (acr ``phr``) in the last five minutes
(RFC 9470): a stolen password, or a code relayed by a phishing page, is not enough."""


async def open_breaker(request: Request) -> Response:
    """``POST /breakers/{breaker}/open``: simulated, but only after a passkey."""
    try:
        claims = await OPEN_BREAKER(request)
    except HTTPException as refused:
        challenge = (refused.headers or {}).get("WWW-Authenticate", "")
        error = challenge.partition('error="')[2].partition('"')[0] or "invalid_token"
        refusal = {"error": error, "error_description": refused.detail}
        return JSONResponse(refusal, refused.status_code, headers=refused.headers)
    breaker = request.path_params["breaker"]
    if breaker not in BREAKERS:
        return JSONResponse({"error": "not_found"}, 404)
    log.info("breaker %s opened by %s (acr %s)", breaker, claims["sub"], claims.get("acr"))
    body = {"breaker": breaker, "name": BREAKERS[breaker], "state": "open",
            "subject": claims["sub"], "acr": claims.get("acr")}  # fmt: skip
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


MAX_REPORTED = 20
"""Reported sensors kept (the latest reading of each); more are refused."""
_SENSOR_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


async def readings(request: Request) -> Response:
    """The middleware has already checked the token and its ``read_sensors`` scope."""
    claims: dict[str, Any] = request.state.token_claims
    now = time.time()
    rng = random.Random(int(now * 10))  # noqa: S311 (simulated data, not security)
    reported: dict[str, dict[str, Any]] = request.app.state.reported
    return JSONResponse(
        {
            "site": "Riverside grid (simulated)",
            "generated_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            "subject": claims["sub"],
            "client_id": claims["client_id"],
            "readings": [sensor.read(now, rng) for sensor in SENSORS],
            "reported": sorted(reported.values(), key=lambda r: str(r["id"])),
        },
        headers={"Cache-Control": "no-store"},
    )


def _report(body: object) -> dict[str, Any] | str:
    """The reading a device sent, or what is wrong with it."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    sensor, value = body.get("sensor"), body.get("value")
    name, unit = body.get("name", sensor), body.get("unit", "")
    if not isinstance(sensor, str) or not _SENSOR_ID.fullmatch(sensor):
        return "sensor must be 1-40 lower-case letters, digits and dashes"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "value must be a finite number"
    if not isinstance(name, str) or not 0 < len(name) <= 80:
        return "name must be a string of 1-80 characters"
    if not isinstance(unit, str) or len(unit) > 8:
        return "unit must be a string of at most 8 characters"
    return {"id": sensor, "name": name, "value": value, "unit": unit}


async def report(request: Request) -> Response:
    """``POST /readings`` from a device; the middleware has checked ``send_readings``.
    The reading is kept with who sent it: the token's subject (the person who approved
    the device) and client."""
    claims: dict[str, Any] = request.state.token_claims
    try:
        found = _report(await request.json())
    except ValueError:
        found = "the body must be JSON"
    if isinstance(found, str):
        return JSONResponse({"error": "invalid_request", "error_description": found}, 400)
    reported: dict[str, dict[str, Any]] = request.app.state.reported
    if found["id"] not in reported and len(reported) >= MAX_REPORTED:
        return JSONResponse({"error": "invalid_request", "error_description": "too many"}, 400)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    entry = {**found, "subject": claims["sub"], "client_id": claims["client_id"]}
    reported[found["id"]] = {**entry, "received_at": now}
    log.info("reading %s=%s from %s (subject %s)", found["id"], found["value"],
             claims["client_id"], claims["sub"])  # fmt: skip
    return JSONResponse({**entry, "received_at": now}, 201, {"Cache-Control": "no-store"})


class ByMethod:
    """``POST`` to one app, every other method to another: each its own scope check;
    ``/breakers/`` straight to the app, whose handler checks the token itself."""

    def __init__(self, post: ASGIApp, other: ASGIApp, direct: ASGIApp) -> None:
        self.post, self.other, self.direct = post, other, direct

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chosen = self.post if scope.get("method") == "POST" else self.other
        if str(scope.get("path", "")).startswith("/breakers/"):
            chosen = self.direct
        await chosen(scope, receive, send)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def create_app(settings: DemoSettings, credentials: Credentials) -> ASGIApp:
    feed = RevocationFeed(
        settings.issuer,
        credentials.api_client_id,
        credentials.api_client_secret,
        interval=FEED_INTERVAL,
    )
    validator = TokenValidator(settings.issuer, API_IDENTIFIER, revocation=feed)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        validator.prefetch()  # the IdP's keys, now rather than on the first request
        if not feed.start():
            log.warning("revocation feed not read yet: %s", feed.last_error)
        try:
            yield
        finally:
            feed.stop()
            validator.close()

    app = Starlette(
        routes=[
            Route("/readings", readings, methods=["GET"]),
            Route("/readings", report, methods=["POST"]),
            Route("/breakers/{breaker}/open", open_breaker, methods=["POST"]),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )
    app.state.reported = {}
    app.state.token_validator = validator
    excluded = {"/healthz"}
    return ByMethod(
        BearerAuthMiddleware(app, validator, required_scopes=[SEND_SCOPE], exclude_paths=excluded),
        BearerAuthMiddleware(
            app, validator, required_scopes=[REQUIRED_SCOPE], exclude_paths=excluded
        ),
        app,
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="sensors: %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per feed poll
    settings = DemoSettings.from_env()
    app = create_app(settings, Credentials.load(settings.data_dir))
    uvicorn.run(app, host=HOST, port=settings.api_port, log_level="warning")


if __name__ == "__main__":
    main()
