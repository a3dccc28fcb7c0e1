"""``tollhouse gateway``: the token check for nginx ``auth_request``, Traefik, Envoy."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import click
import httpx
import uvicorn

from tollhouse.cli.context import fail
from tollhouse.errors import ConfigError
from tollhouse.resource import (
    IntrospectionRevocation,
    RedisRevocationList,
    RevocationCheck,
    RevocationFeed,
    TokenValidator,
)
from tollhouse.resource.asgi import ASGIApp
from tollhouse.resource.discovery import FetchError, fetch_metadata
from tollhouse.resource.gateway import create_app

log = logging.getLogger("tollhouse.resource.gateway")
ENV = "TOLLHOUSE_GATEWAY_"
MODES = ("auto", "feed", "redis", "introspection", "off")


def _client(ca_file: Path | None) -> httpx.Client:
    verify: ssl.SSLContext | bool = True
    if ca_file is not None:
        verify = ssl.create_default_context(cafile=str(ca_file))
    return httpx.Client(timeout=5.0, follow_redirects=False, trust_env=False, verify=verify)


def _revocation(
    mode: str,
    issuer: str,
    client_id: str | None,
    client_secret: str | None,
    redis_url: str | None,
    ca_file: Path | None,
) -> tuple[RevocationCheck | None, str]:
    """The revocation check for ``mode`` and a line that says what was chosen."""
    has_credentials = bool(client_id and client_secret)
    if mode == "auto":
        mode = "off"
        if has_credentials:
            with _client(ca_file) as http:
                try:
                    if fetch_metadata(http, issuer).endpoint("revocation_feed_endpoint"):
                        mode = "feed"
                except FetchError as exc:
                    raise ConfigError(f"cannot read the discovery of {issuer}: {exc}") from None
    if mode in ("feed", "introspection") and not (client_id and client_secret):
        raise ConfigError(f"--revocation {mode} needs --client-id and --client-secret")
    if mode == "feed":
        assert client_id and client_secret
        feed = RevocationFeed(issuer, client_id, client_secret, http_client=_client(ca_file))
        return feed, "revocation: the IdP's signed feed, polled every 5 s"
    if mode == "introspection":
        assert client_id and client_secret
        introspection = IntrospectionRevocation(
            issuer, client_id, client_secret, http_client=_client(ca_file)
        )
        return introspection, "revocation: RFC 7662 introspection, answers cached 10 s"
    if mode == "redis":
        if not redis_url:
            raise ConfigError("--revocation redis needs --redis-url")
        return RedisRevocationList(redis_url), "revocation: Redis list shared with the IdP"
    return None, "revocation: OFF (revoked tokens stay valid until they expire)"


@click.command()
@click.option("--issuer", required=True, envvar=ENV + "ISSUER", help="The IdP's issuer URL.")
@click.option(
    "--audience",
    required=True,
    multiple=True,
    envvar=ENV + "AUDIENCE",
    help="API identifier a token must be for (repeatable; env: space-separated).",
)
@click.option("--host", default="127.0.0.1", envvar=ENV + "HOST", show_default=True)
@click.option("--port", type=int, default=8081, envvar=ENV + "PORT", show_default=True)
@click.option(
    "--revocation",
    type=click.Choice(MODES),
    default="auto",
    envvar=ENV + "REVOCATION",
    show_default=True,
    help="auto = the feed when client credentials are given and the IdP offers it.",
)
@click.option("--client-id", envvar=ENV + "CLIENT_ID", help="For the feed or introspection.")
@click.option("--client-secret", envvar=ENV + "CLIENT_SECRET", help="Prefer the env variable.")
@click.option("--redis-url", envvar=ENV + "REDIS_URL", help="For --revocation redis.")
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar=ENV + "CA_FILE",
    help="CA bundle that signed the IdP's certificate (e.g. its self-signed one).",
)
@click.option("--leeway", type=int, default=30, envvar=ENV + "LEEWAY", show_default=True)
@click.option(
    "--client-cert-header",
    envvar=ENV + "CLIENT_CERT_HEADER",
    help="Header in which the proxy passes the client certificate (RFC 8705 bound tokens).",
)
@click.option(
    "--public-url",
    envvar=ENV + "PUBLIC_URL",
    help="The API's address as clients call it (the base of the URLs DPoP proofs name).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    envvar=ENV + "LOG_LEVEL",
    show_default=True,
)
def gateway(
    issuer: str,
    audience: tuple[str, ...],
    host: str,
    port: int,
    revocation: str,
    client_id: str | None,
    client_secret: str | None,
    redis_url: str | None,
    ca_file: Path | None,
    leeway: int,
    client_cert_header: str | None,
    public_url: str | None,
    log_level: str,
) -> None:
    """Answer token checks for a reverse proxy: GET /check (or /nginx/check).

    200 with X-Auth-Subject, X-Auth-Scopes and X-Auth-Client-Id, or 401/403 with the
    RFC 6750 WWW-Authenticate header. Scopes to require: ?scope=a+b or X-Required-Scopes.
    """
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if log_level != "debug":  # one line per JWKS fetch and feed poll is noise
        logging.getLogger("httpx").setLevel(logging.WARNING)
    audiences = tuple(a for value in audience for a in value.split())
    try:
        check, summary = _revocation(
            revocation, issuer, client_id, client_secret, redis_url, ca_file
        )
        validator = TokenValidator(
            issuer,
            audiences,
            leeway=leeway,
            revocation=check,
            http_client=_client(ca_file) if ca_file else None,
        )
    except ConfigError as exc:
        fail(str(exc))

    def start() -> None:
        if isinstance(check, RevocationFeed) and not check.start():
            log.warning(
                "revocation feed not read yet (tokens refused until it is): %s", check.last_error
            )

    click.echo(f"Gateway for {issuer} (audience {' '.join(audiences)}); {summary}")
    click.echo(f"Listening on http://{host}:{port}/check")
    app = create_app(
        validator, on_startup=start, public_url=public_url, client_cert_header=client_cert_header
    )
    _serve(app, host, port)


def _serve(app: ASGIApp, host: str, port: int) -> None:
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
