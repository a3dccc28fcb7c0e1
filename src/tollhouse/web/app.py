"""The application: Starlette's routes and the hot endpoints behind the one request
pipeline (web/pipeline.py)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from tollhouse.config import Settings
from tollhouse.observability.access_log import ACCESS_LOG
from tollhouse.provider import Provider
from tollhouse.web import (
    account,
    branding,
    device,
    health,
    interaction,
    interaction_api,
    logout,
    passkey_sign_in,
    registration,
    routes,
    second_factor,
)
from tollhouse.web.pipeline import Pipeline
from tollhouse.web.proxy import TrustedProxies, parse_networks
from tollhouse.web.request_context import RequestContext

GC_THRESHOLDS = (10_000, 10, 10)


def settle_heap() -> None:
    """Move everything built at start-up out of the garbage collector's sight.

    A full collection walks every object the process holds (SQLAlchemy's tables and
    compiled statements, the routes, the templates): under load that stalled requests
    long enough to set the p99 of ``/token`` (bench/RESULTS.md). Request garbage is
    freed by reference counting; the collector only has to find cycles among objects
    made since start-up, and less often (``GC_THRESHOLDS``: gen 0 at 10,000
    allocations instead of CPython's 700).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(settings: Settings, build: Callable[[], Awaitable[Provider]]) -> ASGIApp:
    """The ASGI app; the provider is built inside the server's event loop at start-up."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        provider = await build()
        app.state.provider = provider
        settle_heap()
        purger = asyncio.create_task(provider.purger.run_forever(), name="tollhouse-purge")
        keys = asyncio.create_task(provider.key_rotation.run_forever(), name="tollhouse-keys")
        reload = asyncio.create_task(provider.keyring.run_forever(), name="tollhouse-key-reload")
        try:
            yield
        finally:
            for task in (purger, keys, reload):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await provider.close()
            ACCESS_LOG.drain()  # the last requests' lines, before the process ends

    static = StaticFiles(directory=Path(__file__).parent / "static")
    app = Starlette(
        routes=[
            *routes.routes(),
            *interaction.routes(),
            *device.routes(),
            *second_factor.routes(),
            *passkey_sign_in.routes(),
            *account.routes(),
            *interaction_api.routes(),
            *branding.routes(),
            *logout.routes(),
            *health.routes(),
            *registration.routes(),
            Mount("/static", app=static, name="static"),
        ],
        lifespan=lifespan,
    )
    addresses = TrustedProxies(parse_networks(settings.trusted_proxies))
    return Pipeline(app, addresses, RequestContext(hsts=not settings.insecure_http))
