"""The "sensors" API: simulated grid readings for tokens that carry ``read_sensors``.

A resource server as docs/resource-server.md describes it: ``BearerAuthMiddleware``
checks every request's access token locally (RFC 9068 JWT, the IdP's JWKS, RFC 6750
errors) and ``RevocationFeed`` learns revoked tokens from the IdP's signed feed with
the API's own client credentials. Run with ``python -m demo.sensors``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from demo.settings import API_IDENTIFIER, HOST, Credentials, DemoSettings
from tollhouse.resource import BearerAuthMiddleware, RevocationFeed, TokenValidator
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


async def readings(request: Request) -> Response:
    """The middleware has already checked the token and its ``read_sensors`` scope."""
    claims: dict[str, Any] = request.state.token_claims
    now = time.time()
    rng = random.Random(int(now * 10))  # noqa: S311 (simulated data, not security)
    return JSONResponse(
        {
            "site": "Riverside grid (simulated)",
            "generated_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            "subject": claims["sub"],
            "client_id": claims["client_id"],
            "readings": [sensor.read(now, rng) for sensor in SENSORS],
        },
        headers={"Cache-Control": "no-store"},
    )


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
        routes=[Route("/readings", readings), Route("/healthz", healthz)], lifespan=lifespan
    )
    return BearerAuthMiddleware(
        app, validator, required_scopes=[REQUIRED_SCOPE], exclude_paths={"/healthz"}
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="sensors: %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per feed poll
    settings = DemoSettings.from_env()
    app = create_app(settings, Credentials.load(settings.data_dir))
    uvicorn.run(app, host=HOST, port=settings.api_port, log_level="warning")


if __name__ == "__main__":
    main()
