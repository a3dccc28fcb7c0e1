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
from tollhouse.security.tls_reload import reloadable_server_context
from tollhouse.storage.sql.storage import open_storage
from tollhouse.web.app import create_app


def app_for(settings: Settings) -> ASGIApp:
    async def build() -> Provider:
        storage = await open_storage(settings.database_url, migrate=False)
        try:
            return await build_provider(settings, storage)
        except BaseException:
            await storage.close()
            raise

    return create_app(settings, build)


def from_environment() -> ASGIApp:
    """uvicorn factory: ``uvicorn --factory tollhouse.web.asgi:from_environment``."""
    settings = load_settings()
    configure(settings.log_level)
    return app_for(settings)


def tls13_context(config: uvicorn.Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn ``ssl_context_factory``: TLS 1.3 only, whatever uvicorn's defaults are;
    the certificate is reloaded on SIGHUP (security/tls_reload.py)."""
    assert config.ssl_certfile is not None and config.ssl_keyfile is not None
    return reloadable_server_context(Path(config.ssl_certfile), Path(config.ssl_keyfile))
