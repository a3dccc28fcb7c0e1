"""``tollhouse keys``: the signing keys (RFC 7517), stored encrypted under the master key.

Listing reads only public data (kid, alg, status, times), so it never needs the master
key. The *current* key of an algorithm is the one a server signs with: the newest active
key of that alg, chosen by the same rule as :class:`tollhouse.keys.KeyRing`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

import click

from tollhouse.cli.context import echo_json, run, settings_from, state_options, storage_for
from tollhouse.cli.output import echo_table, iso_utc, iso_utc_or_none, note
from tollhouse.config import Settings
from tollhouse.keys import ACTIVE
from tollhouse.models import SigningKey


class KeyRecord(TypedDict):
    kid: str
    alg: str
    status: str
    created_at: str
    retired_at: str | None
    current: bool
    """True for the key that signs new tokens of this alg."""


def current_kids(keys: Sequence[SigningKey]) -> set[str]:
    """The kid of the newest active key per alg (ties: the store's order, as KeyRing)."""
    current: dict[str, str] = {}
    for key in sorted(keys, key=lambda k: k.created_at, reverse=True):
        if key.status == ACTIVE:
            current.setdefault(key.alg, key.kid)
    return set(current.values())


def records(keys: Sequence[SigningKey]) -> list[KeyRecord]:
    current = current_kids(keys)
    return [
        {
            "kid": key.kid,
            "alg": key.alg,
            "status": key.status,
            "created_at": iso_utc(key.created_at),
            "retired_at": iso_utc_or_none(key.retired_at),
            "current": key.kid in current,
        }
        for key in keys
    ]


@click.group()
def keys() -> None:
    """Signing keys: list them (encrypted at rest with the master key)."""


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@state_options
def list_(as_json: bool, data_dir: Path | None, database: str | None) -> None:
    """List signing keys, newest first, marking the current signer of each alg."""
    found = records(run(_list(settings_from(data_dir, database))))
    if as_json:
        echo_json(found)
        return
    if not found:
        note("no signing keys yet; `tollhouse serve` creates one on first start")
        return
    echo_table(
        ["kid", "alg", "status", "created_at", "retired_at", "current"],
        (
            [
                key["kid"],
                key["alg"],
                key["status"],
                key["created_at"],
                key["retired_at"] or "-",
                "signing" if key["current"] else "",
            ]
            for key in found
        ),
    )


async def _list(settings: Settings) -> list[SigningKey]:
    async with storage_for(settings) as storage:
        return await storage.list_keys()
