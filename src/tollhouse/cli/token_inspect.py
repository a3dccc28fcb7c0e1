"""``tollhouse token inspect JWT``: decode an access token and explain exactly why it
is or is not valid here (signature and kid, exp/nbf/iat with leeway, iss, aud, typ,
revocation), naming the client and user it refers to. Exit 0 if valid, 1 if not.
The signature and the token itself are never printed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from tollhouse.cli.context import echo_json, run, settings_from, state_options, storage_for
from tollhouse.clock import SystemClock
from tollhouse.config import Settings
from tollhouse.diagnostics.inspect import inspect_token
from tollhouse.diagnostics.token_explain import Explanation, Status
from tollhouse.keys.rotation import retention_for
from tollhouse.resource.at_jwt import DEFAULT_LEEWAY

MARKS = {Status.PASS: "✓", Status.FAIL: "✗", Status.INFO: "·"}


@click.group()
def token() -> None:
    """One token: inspect it (see also `tollhouse tokens revoke`)."""


@token.command("inspect")
@click.argument("jwt")
@click.option(
    "--leeway",
    type=click.IntRange(0, 3600),
    default=DEFAULT_LEEWAY,
    show_default=True,
    help="Clock skew tolerated for exp/nbf/iat, in seconds.",
)
@click.option("--audience", default=None, help="Require this aud (default: any API here).")
@click.option(
    "--issuer",
    default=None,
    help="The issuer the server runs as (default: from TOLLHOUSE_* as for serve).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@state_options
def inspect(
    jwt: str,
    leeway: int,
    audience: str | None,
    issuer: str | None,
    as_json: bool,
    data_dir: Path | None,
    database: str | None,
) -> None:
    """Explain why JWT (an access token; `-` reads it from stdin) is or is not valid here."""
    if jwt == "-":
        jwt = sys.stdin.read(64 * 1024)
    settings = settings_from(data_dir, database)
    expected = issuer.rstrip("/") if issuer else settings.issuer_url
    explanation = run(_inspect(settings, expected, jwt, leeway, audience))
    if as_json:
        echo_json(explanation.to_dict())
    else:
        _print(explanation)
    failure = explanation.first_failure
    if failure is not None:
        click.echo(
            f"error: the token is not valid here ({failure.name}): {failure.detail}", err=True
        )
        raise SystemExit(1)


async def _inspect(
    settings: Settings, issuer: str, jwt: str, leeway: int, audience: str | None
) -> Explanation:
    async with storage_for(settings) as storage:
        return await inspect_token(
            jwt,
            storage,
            issuer=issuer,
            clock=SystemClock(),
            leeway=leeway,
            audience=audience,
            retention=retention_for(settings),
        )


def _print(explanation: Explanation) -> None:
    if explanation.header is not None:
        click.echo(f"header: {_compact(explanation.header)}")
    if explanation.claims is not None:
        click.echo(f"claims: {_compact(explanation.claims)}")
    width = max((len(c.name) for c in explanation.checks), default=0)
    for check in explanation.checks:
        click.echo(f"{MARKS[check.status]} {check.name.ljust(width)}  {check.detail}")
    click.echo("valid here: yes" if explanation.valid else "valid here: no")


def _compact(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))
