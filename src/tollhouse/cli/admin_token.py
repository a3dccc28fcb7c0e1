"""``tollhouse admin-token``: bearer tokens for the interaction API (docs/oidc.md).

The operator's own login/consent app sends ``Authorization: Bearer <admin token>`` to
``/admin/interactions/…``. A token is 256 bits of randomness printed once; the
database keeps its SHA-256 fingerprint, a name and an expiry. ``list`` shows ids and
names only; ``revoke ID`` deletes one at once (the next API call with it gets 401).
"""

from __future__ import annotations

from pathlib import Path

import click

from tollhouse import randomness
from tollhouse.cli.context import echo_json, fail, run, settings_from, state_options, storage_for
from tollhouse.cli.output import echo_record, echo_table, iso_utc, note
from tollhouse.clock import SystemClock
from tollhouse.config import Settings
from tollhouse.models import AdminToken

PREFIX = "tha_"
"""Marks the value as a Tollhouse admin token (for secret scanners)."""
DEFAULT_EXPIRES_IN = 90 * 24 * 3600
MAX_EXPIRES_IN = 2 * 365 * 24 * 3600
WARNING = "warning: the token is shown only once; send it as Authorization: Bearer <token>"

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group("admin-token")
def admin_token() -> None:
    """Bearer tokens for the interaction API (your own login/consent pages)."""


@admin_token.command("create")
@click.option("--name", default="interaction app", show_default=True, help="What uses it.")
@click.option(
    "--expires-in",
    type=click.IntRange(60, MAX_EXPIRES_IN),
    default=DEFAULT_EXPIRES_IN,
    show_default=True,
    metavar="SECONDS",
    help="Lifetime of the token.",
)
@json_option
@state_options
def create(
    name: str, expires_in: int, as_json: bool, data_dir: Path | None, database: str | None
) -> None:
    """Create an admin token; it is printed once."""
    settings = settings_from(data_dir, database)
    value = PREFIX + randomness.token(32)
    now = SystemClock().now()
    record = AdminToken(
        token_id=randomness.identifier(9),
        token_hash=randomness.fingerprint(value),
        name=name,
        created_at=now,
        expires_at=now + expires_in,
    )
    run(_add(settings, record))
    if as_json:
        echo_json(
            {"token": value, "id": record.token_id, "name": name, "expires_at": record.expires_at}
        )
        return
    echo_record(
        [
            ("token", value),
            ("id", record.token_id),
            ("name", name),
            ("expires_at", iso_utc(record.expires_at)),
        ]
    )
    click.echo(WARNING)


async def _add(settings: Settings, record: AdminToken) -> None:
    async with storage_for(settings) as storage:
        await storage.add_admin_token(record)


@admin_token.command("list")
@json_option
@state_options
def list_(as_json: bool, data_dir: Path | None, database: str | None) -> None:
    """List admin tokens (ids, names, expiry; never the values)."""
    tokens = run(_list(settings_from(data_dir, database)))
    if as_json:
        echo_json(
            [
                {
                    "id": t.token_id,
                    "name": t.name,
                    "created_at": t.created_at,
                    "expires_at": t.expires_at,
                }
                for t in tokens
            ]
        )
        return
    if not tokens:
        note("no admin tokens")
        return
    echo_table(
        ["id", "name", "created", "expires"],
        ([t.token_id, t.name, iso_utc(t.created_at), iso_utc(t.expires_at)] for t in tokens),
    )


async def _list(settings: Settings) -> list[AdminToken]:
    async with storage_for(settings) as storage:
        return await storage.list_admin_tokens()


@admin_token.command("revoke")
@click.argument("token_id")
@state_options
def revoke(token_id: str, data_dir: Path | None, database: str | None) -> None:
    """Delete the admin token with this id."""
    if not run(_revoke(settings_from(data_dir, database), token_id)):
        fail(f"no admin token {token_id}")
    click.echo(f"revoked admin token {token_id}")


async def _revoke(settings: Settings, token_id: str) -> bool:
    async with storage_for(settings) as storage:
        return await storage.delete_admin_token(token_id)
