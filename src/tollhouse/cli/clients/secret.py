"""Client secrets from the CLI: made at ``create``, replaced by ``rotate-secret``,
printed once each time."""

from __future__ import annotations

from pathlib import Path

import click

from tollhouse import randomness
from tollhouse.cli.clients.metadata import json_option
from tollhouse.cli.context import echo_json, fail, run, settings_from, state_options, storage_for
from tollhouse.cli.dashed_arguments import DashedArgumentCommand
from tollhouse.cli.hashing import client_secret_hasher
from tollhouse.cli.output import echo_record, iso_utc
from tollhouse.clock import SystemClock
from tollhouse.config import Settings
from tollhouse.errors import NotFound

SECRET_BYTES = 32
MAX_SECRET_OVERLAP = 30 * 24 * 3600
"""``rotate-secret --overlap`` keeps the old secret at most 30 days."""
SECRET_WARNING = (
    "warning: the client secret is shown only once; store it now "
    "(`tollhouse clients rotate-secret` makes a new one)"
)


def new_secret() -> str:
    """256 bits of randomness: nobody guesses it, so a digest protects it (ADR 0006)."""
    return randomness.token(SECRET_BYTES)


@click.command("rotate-secret", cls=DashedArgumentCommand)
@click.argument("client_id")
@click.option(
    "--overlap",
    type=click.IntRange(0, MAX_SECRET_OVERLAP),
    default=0,
    show_default=True,
    metavar="SECONDS",
    help="Keep accepting the previous secret this long, so deployed instances can "
    "switch over (0: running servers stop accepting it within a second).",
)
@json_option
@state_options
def rotate_secret(
    client_id: str, overlap: int, as_json: bool, data_dir: Path | None, database: str | None
) -> None:
    """Give a confidential client a new secret; running servers stop accepting the old
    one within a second, or after --overlap seconds."""
    settings = settings_from(data_dir, database)
    secret = new_secret()
    now = SystemClock().now()
    until = now + overlap if overlap else None
    error = run(_rotate(settings, client_id, client_secret_hasher(settings).hash(secret), until))
    if error is not None:
        fail(error)
    if as_json:
        output: dict[str, object] = {
            "client_id": client_id,
            "client_secret": secret,
            "client_secret_expires_at": 0,
        }
        if until is not None:
            output["previous_secret_expires_at"] = until
        echo_json(output)
        return
    fields: list[tuple[str, str | None]] = [("client_id", client_id), ("client_secret", secret)]
    if until is not None:
        fields.append(("previous secret valid until", iso_utc(until)))
    echo_record(fields)
    click.echo(SECRET_WARNING)


async def _rotate(
    settings: Settings, client_id: str, secret_hash: str, previous_until: int | None
) -> str | None:
    """None when rotated, else why not (a public client has no secret).

    With an overlap the replaced hash stays valid until ``previous_until``; rotating
    again drops the older one (only one previous secret is kept)."""
    async with storage_for(settings) as storage:
        client = await storage.get_client(client_id)
        if client is None:
            raise NotFound(f"no client {client_id}")
        if client.uses_keys:
            return f"client {client_id} authenticates with private_key_jwt and has no secret"
        if client.is_public:
            return (
                f"client {client_id} is public (token_endpoint_auth_method none) "
                "and has no secret to rotate"
            )
        keep = previous_until is not None and client.secret_hash is not None
        if not await storage.set_client_secret(
            client_id,
            secret_hash,
            previous_secret_hash=client.secret_hash if keep else None,
            previous_secret_expires_at=previous_until if keep else None,
        ):
            raise NotFound(f"no client {client_id}")
    return None
