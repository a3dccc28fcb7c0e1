"""``tollhouse registration-token``: initial access tokens for RFC 7591 registration.

With ``TOLLHOUSE_REGISTRATION=token`` (the default) ``POST /register`` needs
``Authorization: Bearer <initial access token>`` (RFC 7591 §3). A token is 256 bits of
randomness printed once; the database keeps only its SHA-256 fingerprint, its expiry
and how many registrations it may still authorize.
"""

from __future__ import annotations

from pathlib import Path

import click

from tollhouse import randomness
from tollhouse.cli.context import echo_json, run, settings_from, state_options, storage_for
from tollhouse.cli.output import echo_record, iso_utc
from tollhouse.clock import SystemClock
from tollhouse.config import Settings
from tollhouse.models import InitialAccessToken

TOKEN_BYTES = 32
DEFAULT_EXPIRES_IN = 24 * 3600
MAX_EXPIRES_IN = 365 * 24 * 3600
MAX_USES = 1_000_000
WARNING = "warning: the token is shown only once; send it as Authorization: Bearer <token>"


@click.group("registration-token")
def registration_token() -> None:
    """Initial access tokens for dynamic client registration (RFC 7591)."""


@registration_token.command("create")
@click.option(
    "--expires-in",
    type=click.IntRange(1, MAX_EXPIRES_IN),
    default=DEFAULT_EXPIRES_IN,
    show_default=True,
    metavar="SECONDS",
    help="Lifetime of the token.",
)
@click.option(
    "--uses",
    type=click.IntRange(1, MAX_USES),
    default=1,
    show_default=True,
    help="How many clients the token may register.",
)
@click.option("--json", "as_json", is_flag=True, help='Print JSON: {"token": …, …}.')
@state_options
def create(
    expires_in: int, uses: int, as_json: bool, data_dir: Path | None, database: str | None
) -> None:
    """Create an initial access token; it is printed once."""
    settings = settings_from(data_dir, database)
    value = randomness.token(TOKEN_BYTES)
    now = SystemClock().now()
    record = InitialAccessToken(randomness.fingerprint(value), now, now + expires_in, uses)
    run(_add(settings, record))
    if as_json:
        echo_json({"token": value, "expires_at": record.expires_at, "uses": uses})
        return
    echo_record(
        [
            ("token", value),
            ("expires_at", iso_utc(record.expires_at)),
            ("uses", str(uses)),
        ]
    )
    click.echo(WARNING)


async def _add(settings: Settings, record: InitialAccessToken) -> None:
    async with storage_for(settings) as storage:
        await storage.add_initial_access_token(record)
