"""What ``tollhouse serve`` checks and binds before it says it is listening.

The order is the contract's: everything that can be refused is refused first, with one
line and exit 1, before anything is written (a certificate, a master key, a
migration); the listening sockets are bound before "Listening on" is printed, so a
client that connects as soon as it reads the line is answered.
"""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

from redis.asyncio import Redis

from tollhouse.config import Settings
from tollhouse.security.master_key import FILE_NAME, load_master_key
from tollhouse.web.workers import balanced_sockets_available, bind_worker_sockets

BACKLOG = 2048
REDIS_TIMEOUT = 2.0


def check_master_key(settings: Settings) -> None:
    """Refuse an unusable master key (``TOLLHOUSE_MASTER_KEY`` or ``master.key``) before
    any side effect; a missing key file is created later, at start-up proper.
    Raises :class:`~tollhouse.errors.ConfigError`."""
    if settings.master_key is not None or (settings.data_dir / FILE_NAME).exists():
        load_master_key(settings.master_key, settings.data_dir)


def bind(settings: Settings) -> list[socket.socket]:
    """The listening sockets for ``settings``: one, or one per worker on Linux
    (web/workers.py); none where uvicorn's own workers bind a shared socket.
    Raises OSError (the address in use, not permitted …)."""
    if settings.workers > 1:
        if not balanced_sockets_available():
            return []
        return bind_worker_sockets(settings.host, settings.port, settings.workers, BACKLOG)
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings.host, settings.port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return [sock]


def listening_line(settings: Settings) -> str:
    """``Listening on …``, naming the issuer when clients reach it under another name
    (``localhost`` for the self-signed certificate, or a proxy's public URL)."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    line = f"Listening on {settings.scheme}://{host}:{settings.port}"
    if urlsplit(settings.issuer_url).hostname != settings.host.strip("[]"):
        line += f" for the issuer {settings.issuer_url}"
    return line


def metrics_line(sock: socket.socket) -> str:
    """``Metrics on …``: where the ``--metrics-port`` listener answers."""
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"Metrics on http://{host}:{port}/metrics"


async def redis_warning(url: str) -> str | None:
    """A warning line if Redis at ``url`` does not answer a PING now (the server still
    starts: ``/readyz`` answers 503 until Redis is back)."""
    client = Redis.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)
    try:
        await asyncio.wait_for(client.ping(), REDIS_TIMEOUT + 1)
    except Exception as exc:  # any failure is reported, none is fatal
        parts = urlsplit(url)
        where = f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
        reason = str(exc).rstrip(".") or type(exc).__name__
        return (
            f"warning: Redis at {where} (TOLLHOUSE_REDIS) cannot be reached: {reason}; "
            "requests that need it fail and /readyz answers 503 until it can"
        )
    finally:
        await client.aclose()
    return None
