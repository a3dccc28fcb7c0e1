"""ASGI entry point for uvicorn (also used by each ``--workers`` process).

Settings come from the ``TOLLHOUSE_*`` environment, which ``tollhouse serve`` fills
from its flags before starting uvicorn.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from tollhouse.config import Settings, load_settings
from tollhouse.logs import configure
from tollhouse.provider import Provider, build_provider
from tollhouse.security.shared_slots import SlotLease
from tollhouse.security.tls_reload import reloadable_server_context
from tollhouse.storage.sql.storage import open_storage
from tollhouse.web.app import create_app
from tollhouse.web.connection_limits import ConnectionLimits, LimitedHttp


def app_for(settings: Settings, password_slots: SlotLease | None = None) -> ASGIApp:
    async def build() -> Provider:
        storage = await open_storage(settings.database_url, migrate=False)
        try:
            return await build_provider(settings, storage, password_slots=password_slots)
        except BaseException:
            await storage.close()
            raise

    return create_app(settings, build)


def from_environment(password_slots: SlotLease | None = None) -> ASGIApp:
    """uvicorn factory: ``uvicorn --factory tollhouse.web.asgi:from_environment``.

    Every serving process calls it before it accepts a connection (uvicorn loads the
    app first), with or without ``--workers``: so it also sets the process's
    connection limits (web/connection_limits.py). A ``--workers`` process passes the
    password-check slots it shares with the others (web/worker_process.py)."""
    settings = load_settings()
    configure(settings.log_level, settings.access_log, settings.access_log_buffer)
    LimitedHttp.limits = connection_limits(settings)
    return app_for(settings, password_slots)


def connection_limits(settings: Settings) -> ConnectionLimits:
    return ConnectionLimits(
        max_header_bytes=settings.max_header_bytes,
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        max_connections=settings.max_connections,
    )


def tls13_context(config: uvicorn.Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn ``ssl_context_factory``: TLS 1.3 only, whatever uvicorn's defaults are;
    the certificate is reloaded on SIGHUP (security/tls_reload.py)."""
    assert config.ssl_certfile is not None and config.ssl_keyfile is not None
    return reloadable_server_context(Path(config.ssl_certfile), Path(config.ssl_keyfile))
