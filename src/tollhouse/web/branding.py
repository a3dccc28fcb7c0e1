"""The operator's name and logo on every page (``TOLLHOUSE_OPERATOR_NAME``,
``TOLLHOUSE_OPERATOR_LOGO``), and the logo served from a fixed URL under the issuer.

An SVG can carry script: it is served with ``Content-Security-Policy: sandbox`` and
``default-src 'none'``, so opened directly it runs nothing and reaches nothing; the
pages show it through ``<img>``, where browsers never run script anyway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollhouse.provider import PageSettings, Provider

log = logging.getLogger("tollhouse.web")

LOGO_PATH = "/branding/logo"
_TYPES = {".png": "image/png", ".svg": "image/svg+xml"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True, slots=True)
class Branding:
    name: str
    logo_url: str | None


def branding_of(pages: PageSettings) -> Branding:
    return Branding(pages.operator_name, LOGO_PATH if pages.operator_logo else None)


@lru_cache(maxsize=4)
def _read_logo(path: Path, mtime_ns: int) -> bytes | None:
    data = path.read_bytes()
    if path.suffix.lower() == ".png" and not data.startswith(_PNG_SIGNATURE):
        return None
    if path.suffix.lower() == ".svg" and b"<svg" not in data[:4096]:
        return None
    return data


async def logo(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    path = provider.pages.operator_logo
    if path is None:
        return Response(status_code=404, headers={"Cache-Control": "no-store"})
    try:
        data = await anyio.to_thread.run_sync(_read_logo, path, path.stat().st_mtime_ns)
    except OSError as exc:
        log.warning("operator logo unreadable", extra={"path": str(path), "error": str(exc)})
        data = None
    if data is None:
        log.warning("operator logo is not a valid PNG or SVG", extra={"path": str(path)})
        return Response(status_code=404, headers={"Cache-Control": "no-store"})
    return Response(
        data,
        media_type=_TYPES[path.suffix.lower()],
        headers={
            "Cache-Control": "public, max-age=3600",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        },
    )


def routes() -> list[Route]:
    return [Route(LOGO_PATH, logo, methods=["GET"])]
