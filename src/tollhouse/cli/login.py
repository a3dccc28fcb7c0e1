"""``tollhouse login --device``: a person at a terminal gets tokens through the device
flow (RFC 8628) of any issuer — this one or another.

It reads the issuer's metadata (RFC 8414), asks for a device authorization, prints
the code and the address to visit on stderr, and polls the token endpoint at the
interval the issuer names, 5 seconds longer after each ``slow_down`` (§3.5), until
the person approves or denies or the request expires. The tokens (RFC 6749 §5.1 JSON)
go to stdout, or to ``--output FILE`` created with mode 0600.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import httpx

from tollhouse.cli.context import fail
from tollhouse.cli.output import note
from tollhouse.hosts import is_loopback

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_STEP = 5
MAX_POLLS = 1000
"""A bound on the loop whatever the issuer says (30 minutes at 2 s would be 900)."""


@click.command()
@click.option("--device", is_flag=True, required=True, help="Use the device flow (RFC 8628).")
@click.option("--issuer", required=True, help="The issuer URL (https; http on loopback).")
@click.option("--client-id", required=True, help="A client allowed the device_code grant.")
@click.option(
    "--client-secret",
    default=None,
    envvar="TOLLHOUSE_LOGIN_CLIENT_SECRET",
    help="For a confidential client (env TOLLHOUSE_LOGIN_CLIENT_SECRET).",
)
@click.option("--scope", default=None, help='Space-separated scopes, e.g. "openid read".')
@click.option("--resource", default=None, help="The API the token is for (RFC 8707).")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the tokens to FILE (mode 0600) instead of stdout.",
)
def login(
    device: bool,
    issuer: str,
    client_id: str,
    client_secret: str | None,
    scope: str | None,
    resource: str | None,
    output: Path | None,
) -> None:
    """Sign in from a terminal: show a code to enter in a browser, then get tokens."""
    _check_issuer(issuer)
    auth = httpx.BasicAuth(client_id, client_secret) if client_secret else None
    with httpx.Client(timeout=15, follow_redirects=False, auth=auth) as http:
        metadata = _metadata(http, issuer)
        form = {"client_id": client_id} if auth is None else {}
        form |= {k: v for k, v in (("scope", scope), ("resource", resource)) if v}
        started = _json(http.post(metadata["device_authorization_endpoint"], data=form))
        note(f"To sign in, visit {started['verification_uri']} and enter the code:")
        note(f"    {started['user_code']}")
        if "verification_uri_complete" in started:
            note(f"(or open {started['verification_uri_complete']})")
        tokens = _poll(
            http, metadata["token_endpoint"], started, client_id if auth is None else None
        )
    _write(tokens, output)


def _check_issuer(issuer: str) -> None:
    parts = urlsplit(issuer)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname or "")):
        return
    fail(f"the issuer must be an https URL (http only on loopback): {issuer}")


def _metadata(http: httpx.Client, issuer: str) -> dict[str, Any]:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    doc = _json(http.get(url))
    if doc.get("issuer") != issuer.rstrip("/"):
        fail(f"the metadata at {url} names another issuer: {doc.get('issuer')!r}")
    if "device_authorization_endpoint" not in doc:
        fail(f"{issuer} does not offer the device flow (no device_authorization_endpoint)")
    return doc


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        fail(f"{response.request.url} answered {response.status_code} without JSON")
    if not isinstance(body, dict):
        fail(f"{response.request.url} answered {response.status_code} with unexpected JSON")
    if response.status_code != 200 and body.get("error") not in (
        "authorization_pending",
        "slow_down",
    ):
        fail(f"{body.get('error')}: {body.get('error_description', '')}".rstrip(": "))
    return body


def _poll(
    http: httpx.Client,
    token_endpoint: str,
    started: dict[str, Any],
    public_client_id: str | None,
) -> dict[str, Any]:
    interval = int(started.get("interval", 5))
    deadline = time.monotonic() + int(started.get("expires_in", 600))
    form = {"grant_type": DEVICE_GRANT, "device_code": started["device_code"]}
    if public_client_id is not None:
        form["client_id"] = public_client_id
    for _ in range(MAX_POLLS):
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
        body = _json(http.post(token_endpoint, data=form))
        if body.get("error") == "slow_down":
            interval += SLOW_DOWN_STEP
        elif "error" not in body:
            note("signed in")
            return body
    fail("the code expired before it was entered; run the command again")


def _write(tokens: dict[str, Any], output: Path | None) -> None:
    text = json.dumps(tokens, indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    # Created 0600 from the start: the tokens are never readable by others, even briefly.
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(output, 0o600)
    note(f"tokens written to {output}")
