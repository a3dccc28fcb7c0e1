"""``tollhouse serve``: check the settings, bind, migrate, make sure a signing key exists,
then run uvicorn (cli/startup.py says why in that order)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

import click
import uvicorn

from tollhouse.cli.context import fail, run, secure_data_dir, serve_settings, state_options
from tollhouse.cli.demo import banner, seed
from tollhouse.cli.serving import record
from tollhouse.cli.startup import (
    BACKLOG,
    bind,
    check_master_key,
    listening_line,
    metrics_line,
    redis_warning,
)
from tollhouse.clock import SystemClock
from tollhouse.config import Settings
from tollhouse.diagnostics.config_checks import startup_warnings
from tollhouse.errors import ConfigError
from tollhouse.logs import configure
from tollhouse.observability.metrics import prepare_multiprocess
from tollhouse.provider import build_provider
from tollhouse.provider.parts import password_check_slots
from tollhouse.security.tls import ensure_self_signed
from tollhouse.storage.sql.storage import open_storage
from tollhouse.web.asgi import tls13_context
from tollhouse.web.connection_limits import LimitedHttp
from tollhouse.web.metrics_listener import bind_metrics_socket, serve_metrics
from tollhouse.web.worker_process import FACTORY, serve_worker
from tollhouse.web.workers import BalancedWorkers


async def _prepare(settings: Settings, cacert: Path | None) -> str | None:
    """Migrate, create the first key (and master key), seed the demo; returns the banner."""
    secure_data_dir(settings)
    storage = await open_storage(settings.database_url, migrate=True)
    try:
        provider = await build_provider(settings, storage)
        if settings.seed_demo:
            creds = await seed(
                storage, settings.data_dir, SystemClock(), provider.client_secrets.hasher
            )
            return banner(provider.issuer, creds, cacert=cacert, code_ttl=settings.code_ttl)
        return None
    finally:
        await storage.close()


def _export(settings: Settings) -> None:
    """Hand the effective settings to uvicorn's worker processes through the environment."""
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        os.environ[f"TOLLHOUSE_{name.upper()}"] = text


def _tls_options(settings: Settings) -> tuple[dict[str, Any], Path | None]:
    """uvicorn's TLS options: the configured pair or a self-signed one, TLS 1.3 only
    and reloaded on SIGHUP (web/asgi.py); none for ``--insecure-http``. Second: the
    self-signed certificate clients can trust (``curl --cacert``), if one is used."""
    if settings.insecure_http:
        return {}, None
    cert, key = settings.tls_cert, settings.tls_key
    self_signed = None
    if cert is None or key is None:
        try:
            cert, key, created = ensure_self_signed(settings.data_dir)
        except ConfigError as exc:
            fail(str(exc))
        verb = "created" if created else "using"
        click.echo(f"TLS: {verb} a self-signed certificate for localhost: {cert}")
        self_signed = cert
    options = {
        "ssl_certfile": str(cert),
        "ssl_keyfile": str(key),
        "ssl_context_factory": tls13_context,
    }
    return options, self_signed


def _server_options(settings: Settings, tls: dict[str, Any]) -> dict[str, Any]:
    """uvicorn with uvloop's event loop and httptools' HTTP/1.1 parser, each pass's writes
    sent at once (web/write_coalescing.py) and each connection held within the
    limits of web/connection_limits.py (set in each process by web/asgi.py); the access log,
    proxy headers and the rest of what a request gets are the app's (web/pipeline.py).
    Keep-alive connections stay open 5 s idle, so clients reuse them."""
    return dict(
        app=FACTORY,
        factory=True,
        host=settings.host,
        port=settings.port,
        backlog=BACKLOG,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
        loop="uvloop",
        http=LimitedHttp,
        # No endpoint speaks WebSocket; uvicorn's upgrade would hand the connection to
        # a protocol outside web/connection_limits.py, whose count it would then leave.
        ws="none",
        timeout_keep_alive=5,
        timeout_graceful_shutdown=5,
        **tls,
    )


def _bind(settings: Settings) -> tuple[Settings, list[socket.socket]]:
    """Bind before saying so; with ``--port 0`` the settings take the port chosen."""
    try:
        sockets = bind(settings)
    except OSError as exc:
        fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}")
    if sockets and settings.port == 0:
        settings = settings.model_copy(update={"port": sockets[0].getsockname()[1]})
    return settings, sockets


def _bind_metrics(settings: Settings) -> socket.socket | None:
    """The ``--metrics-port`` listener's socket (web/metrics_listener.py), if asked for."""
    if settings.metrics_port is None:
        return None
    host = settings.metrics_host or settings.host
    try:
        return bind_metrics_socket(host, settings.metrics_port)
    except OSError as exc:
        where = f"[{host}]" if ":" in host else host
        fail(f"cannot listen on {where}:{settings.metrics_port} for metrics: {exc.strerror or exc}")


def _run_server(
    settings: Settings,
    options: dict[str, Any],
    sockets: list[socket.socket],
    metrics_socket: socket.socket | None,
) -> None:
    if settings.workers > 1:
        # Workers are separate processes: /metrics sums their files (observability/metrics).
        try:
            prepare_multiprocess(settings.data_dir / "metrics")
        except OSError as exc:
            fail(f"cannot prepare {settings.data_dir / 'metrics'} for --workers: {exc.strerror}")
        if metrics_socket is not None:
            serve_metrics(metrics_socket)  # in the supervisor: the sum of every worker
        if sockets:
            # A listening socket per worker, so connections are spread, and password-check
            # slots they share, so a worker with a queue uses every core (web/workers.py).
            slots = password_check_slots(settings)
            sys.exit(BalancedWorkers(serve_worker, options, sockets, slots).run())
        uvicorn.run(**options, workers=settings.workers)  # no SO_REUSEPORT balancing here
        return
    if metrics_socket is not None:
        serve_metrics(metrics_socket)
    server = uvicorn.Server(uvicorn.Config(**options))
    server.run(sockets=sockets)
    if not server.started:
        fail("the server stopped before serving; the log lines above say why")


async def _redis_check(settings: Settings) -> None:
    if settings.redis is not None:
        warning = await redis_warning(settings.redis)
        if warning:
            click.echo(warning, err=True)


@click.command()
@click.option("--host", default=None, help="Bind address (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8443).")
@click.option("--issuer", default=None, help="Public issuer URL (default from host and port).")
@click.option("--redis", default=None, help="Redis URL for shared short-lived state.")
@click.option("--tls-cert", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option(
    "--insecure-http", is_flag=True, default=None, help="Serve plain HTTP (loopback only)."
)
@click.option("--workers", type=int, default=None, help="Worker processes (default 1).")
@click.option("--seed-demo", is_flag=True, default=None, help="Create the demo client and user.")
@click.option(
    "--trusted-proxies",
    default=None,
    help="IPs/CIDRs whose X-Forwarded-For/-Proto are honoured (e.g. 127.0.0.1).",
)
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Also serve /metrics alone on this port, to every caller that reaches it "
    "(env TOLLHOUSE_METRICS_PORT).",
)
@click.option(
    "--metrics-host",
    default=None,
    help="Bind address of the --metrics-port listener (default: --host).",
)
@click.option(
    "--access-log",
    # The text as typed: ``off`` is the switch, ``./off`` a file (a Path would merge them).
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="Write the access log (JSON lines) to this file, reopened on SIGHUP; "
    "'off': no access log, audit lines still written "
    "(env TOLLHOUSE_ACCESS_LOG; default stderr).",
)
@state_options
def serve(
    host: str | None,
    port: int | None,
    issuer: str | None,
    redis: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    insecure_http: bool | None,
    workers: int | None,
    seed_demo: bool | None,
    trusted_proxies: str | None,
    access_log: str | None,
    metrics_port: int | None,
    metrics_host: str | None,
    data_dir: Path | None,
    database: str | None,
) -> None:
    """Run the identity provider.

    Configuration is checked before anything is written; the port is bound before
    "Listening on" is printed. A bad setting or a port in use: one line, exit 1.
    Admin commands on the same data directory find this server's issuer in
    <data-dir>/serving.json. SIGHUP reloads the TLS certificate and reopens the
    access log file.
    """
    settings = serve_settings(
        data_dir,
        database,
        host=host,
        port=port,
        issuer=issuer,
        redis=redis,
        tls_cert=tls_cert,
        tls_key=tls_key,
        insecure_http=insecure_http,
        workers=workers,
        seed_demo=seed_demo,
        trusted_proxies=trusted_proxies,
        access_log=access_log,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
    )
    _start(settings)


def _start(settings: Settings) -> None:
    """Check, bind, prepare the database and keys, then serve until stopped."""
    configure(settings.log_level)
    try:
        check_master_key(settings)
    except ConfigError as exc:
        fail(str(exc))
    settings, sockets = _bind(settings)
    metrics_socket = _bind_metrics(settings)
    for finding in startup_warnings(settings):  # unsafe but valid settings, one line each
        click.echo(finding.line(), err=True)
    tls, cacert = _tls_options(settings)
    text = run(_prepare(settings, cacert))
    run(_redis_check(settings))
    try:
        record(settings)
    except OSError as exc:
        click.echo(
            f"warning: cannot record the serving settings for admin commands: {exc}", err=True
        )
    click.echo(text or f"Issuer: {settings.issuer_url}")
    click.echo(listening_line(settings))
    if metrics_socket is not None:
        click.echo(metrics_line(metrics_socket))
    _export(settings)
    _run_server(settings, _server_options(settings, tls), sockets, metrics_socket)
