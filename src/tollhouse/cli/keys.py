"""``tollhouse keys``: the signing keys (RFC 7517), stored encrypted under the master key.

Listing reads only public data (kid, alg, phase, times), so it never needs the master
key. ``rotate`` publishes a new key at once that signs only after the lead time;
``retire`` stops a key signing; ``rewrap`` re-encrypts every private key under a new
master key. Phases are computed exactly as a running server computes them
(:mod:`tollhouse.keys.lifecycle`), and servers pick every change up within
``TOLLHOUSE_KEY_RELOAD_INTERVAL`` seconds, without a restart.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

import click

from tollhouse.algorithms import SIGNING_ALGS
from tollhouse.cli.context import echo_json, fail, run, settings_from, state_options, storage_for
from tollhouse.cli.dashed_arguments import DashedArgumentCommand
from tollhouse.cli.output import echo_table, iso_utc, iso_utc_or_none, note
from tollhouse.clock import SystemClock
from tollhouse.config import Settings
from tollhouse.errors import ConfigError, Conflict
from tollhouse.keys.lifecycle import (
    EXPIRED,
    PENDING,
    RETIRED,
    SIGNING,
    KeyPhase,
    activation_time,
    phases,
)
from tollhouse.keys.rotation import (
    KeyRotation,
    Rewrap,
    Rotation,
    opens,
    retention_for,
    rewrap,
)
from tollhouse.protocol.mfa import SecondFactors
from tollhouse.security.master_key import (
    ENV_VAR,
    FILE_NAME,
    NEW_ENV_VAR,
    load_master_key,
    load_new_master_key,
)
from tollhouse.security.secretbox import SecretBox
from tollhouse.storage.ports import KeyStore


class KeyRecord(TypedDict):
    kid: str
    alg: str
    status: str
    """As stored: ``active`` or ``retired``."""
    phase: str
    """Now: ``pending``, ``signing``, ``retired`` (still published) or ``expired``."""
    generation: int | None
    created_at: str
    activates_at: str | None
    """When it starts (or started) signing; None: from its creation."""
    retired_at: str | None
    """When it stopped (or stops) signing, also before the stored status says so."""
    published_until: str | None
    """Retired keys: dropped from the JWKS then, every token it signed having expired."""
    current: bool
    """True for the key that signs new tokens of this alg."""
    never_signed: bool
    """Retired before its activation: no token was ever signed with it."""


def records(views: Sequence[KeyPhase]) -> list[KeyRecord]:
    return [
        {
            "kid": view.key.kid,
            "alg": view.key.alg,
            "status": view.key.status,
            "phase": view.phase,
            "generation": view.key.generation,
            "created_at": iso_utc(view.key.created_at),
            "activates_at": iso_utc_or_none(view.key.activates_at),
            "retired_at": iso_utc_or_none(view.retired_at),
            "published_until": iso_utc_or_none(view.published_until),
            "current": view.signs,
            "never_signed": view.never_signed,
        }
        for view in views
    ]


@click.group()
def keys() -> None:
    """Signing keys: list, rotate, retire, rewrap (encrypted at rest by the master key)."""


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@state_options
def list_(as_json: bool, data_dir: Path | None, database: str | None) -> None:
    """List signing keys, newest first, with the phase each is in now."""
    settings = settings_from(data_dir, database)
    found = records(run(_phases(settings)))
    if as_json:
        echo_json(found)
        return
    if not found:
        note("no signing keys yet; `tollhouse serve` creates one on first start")
        return
    echo_table(
        ["kid", "alg", "phase", "generation", "created_at", "signs_from", "published_until"],
        (
            [
                key["kid"],
                key["alg"],
                f"{key['phase']} (never signed)" if key["never_signed"] else key["phase"],
                "-" if key["generation"] is None else str(key["generation"]),
                key["created_at"],
                "never" if key["never_signed"] else key["activates_at"] or key["created_at"],
                key["published_until"] or "-",
            ]
            for key in found
        ),
    )


async def _phases(settings: Settings) -> list[KeyPhase]:
    async with storage_for(settings) as storage:
        records = await storage.list_keys()
    return phases(records, SystemClock().now(), retention_for(settings))


@keys.command()
@click.option(
    "--alg",
    type=click.Choice(SIGNING_ALGS),
    default=None,
    help="Algorithm of the new key (default TOLLHOUSE_SIGNING_ALG).",
)
@click.option(
    "--lead-time",
    type=click.IntRange(min=0),
    default=None,
    help="Seconds the new key is published before it signs "
    "(default TOLLHOUSE_KEY_LEAD_TIME, 3600; 0: at once).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@state_options
def rotate(
    alg: str | None,
    lead_time: int | None,
    as_json: bool,
    data_dir: Path | None,
    database: str | None,
) -> None:
    """Add the next signing key: in the JWKS now, signing after the lead time.

    The key it replaces stops signing when the new one starts, and stays published
    until every token it signed has expired.
    """
    settings = settings_from(data_dir, database)
    rotation, retention = run(_rotate(settings, alg or settings.signing_alg, lead_time))
    key = rotation.key
    starts = key.activates_at if key.activates_at is not None else key.created_at
    if as_json:
        echo_json(
            {
                "kid": key.kid,
                "alg": key.alg,
                "generation": key.generation,
                "created_at": iso_utc(key.created_at),
                "activates_at": iso_utc(starts),
                "replaces": [
                    {"kid": old.kid, "published_until": iso_utc(starts + retention)}
                    for old in rotation.replaces
                ],
            }
        )
        return
    delay = starts - key.created_at
    when = "now" if delay <= 0 else f"from {iso_utc(starts)} (in {delay} s)"
    click.echo(
        f"New {key.alg} key {key.kid} (generation {key.generation}): published now, signs {when}."
    )
    until = iso_utc(starts + retention)
    for old in rotation.replaces:
        if activation_time(old) >= starts:
            click.echo(
                f"{old.kid} (pending) will never sign: the new key starts first. "
                f"It stays published until {until}."
            )
        else:
            moment = "now" if delay <= 0 else "then"
            click.echo(f"{old.kid} stops signing {moment} and stays published until {until}.")
    note("running servers pick the new key up within TOLLHOUSE_KEY_RELOAD_INTERVAL seconds")


async def _rotate(settings: Settings, alg: str, lead_time: int | None) -> tuple[Rotation, int]:
    async with storage_for(settings) as storage:
        rotation = _rotation(settings, storage, await _master_box(settings, storage))
        try:
            return await rotation.rotate(alg, lead_time), rotation.retention
        except Conflict:
            raise Conflict(
                f"another {alg} rotation happened at the same moment; see `tollhouse keys list`"
            ) from None


# A kid is a base64url thumbprint: one in 64 starts with "-", which is no option.
@keys.command(cls=DashedArgumentCommand)
@click.argument("kid")
@click.option("--force", is_flag=True, help="Retire even the key that signs now.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@state_options
def retire(
    kid: str, force: bool, as_json: bool, data_dir: Path | None, database: str | None
) -> None:
    """Stop signing with KID now; it stays published until its tokens have expired.

    The key that signs an alg now is refused unless --force: rotate first
    (`tollhouse keys rotate --lead-time 0`), and it is retired by that.
    """
    settings = settings_from(data_dir, database)
    view, was = run(_retire(settings, kid, force))
    if as_json:
        echo_json(records([view])[0])
        return
    until = iso_utc_or_none(view.published_until)
    if was in (RETIRED, EXPIRED):
        click.echo(f"{kid} was already retired; published until {until}.")
    elif was == PENDING:
        click.echo(f"{kid} will never sign (the rotation is cancelled); published until {until}.")
    else:
        click.echo(f"{kid} no longer signs; published until {until}.")
        if was == SIGNING:
            note(f"nothing signs {view.key.alg} now; servers make a new key when they restart")


async def _retire(settings: Settings, kid: str, force: bool) -> tuple[KeyPhase, str]:
    async with storage_for(settings) as storage:
        # Retiring decrypts nothing: any master key (even none) will do.
        rotation = _rotation(settings, storage, SecretBox(bytes(32)))
        before = next((v.phase for v in await rotation.phases() if v.key.kid == kid), "")
        return await rotation.retire(kid, force=force), before


@keys.command("rewrap")
@click.option(
    "--new-master-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"File holding the new master key (base64, mode 0600); else env {NEW_ENV_VAR}.",
)
@click.option(
    "--allow-pairwise-change",
    is_flag=True,
    help="Proceed although pairwise subjects (derived from the master key) will change.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@state_options
def rewrap_(
    new_master_key_file: Path | None,
    allow_pairwise_change: bool,
    as_json: bool,
    data_dir: Path | None,
    database: str | None,
) -> None:
    """Re-encrypt every stored private key under a new master key, in one transaction.

    Then give every instance the new master key and restart them; until then running
    servers keep the keys they decrypted at start.
    """
    settings = settings_from(data_dir, database)
    try:
        new_key = load_new_master_key(new_master_key_file, os.environ.get(NEW_ENV_VAR))
    except ConfigError as exc:
        fail(str(exc))
    done, resealed = run(_rewrap(settings, new_key, allow_pairwise_change))
    if as_json:
        echo_json(
            {
                "rewrapped": list(done.rewrapped),
                "already": list(done.already),
                "skipped": list(done.skipped),
                "totp_resealed": resealed,
            }
        )
        return
    click.echo(f"Re-encrypted {len(done.rewrapped)} signing keys under the new master key.")
    click.echo(f"Re-encrypted {resealed} TOTP secrets (docs/mfa.md).")
    if done.already:
        click.echo(f"{len(done.already)} were under it already.")
    for kid in done.skipped:
        note(f"retired key {kid} opens with neither master key; left as it is (never used)")
    where = ENV_VAR if settings.master_key is not None else str(settings.data_dir / FILE_NAME)
    click.echo(
        f"Now switch the master key: put the new one in {where} on every instance and "
        "restart them. The old master key no longer decrypts the signing keys; keep it "
        "only until every instance runs with the new one."
    )


async def _rewrap(
    settings: Settings, new_key: bytes, allow_pairwise_change: bool
) -> tuple[Rewrap, int]:
    async with storage_for(settings) as storage:
        pairwise = [
            c.client_id for c in await storage.list_clients() if c.subject_type == "pairwise"
        ]
        if pairwise and not allow_pairwise_change:
            # The pairwise-subject key is derived from the master key: a new master key
            # gives those clients new `sub` values for every user.
            raise ConfigError(
                f"{len(pairwise)} client(s) use pairwise subjects ({', '.join(pairwise[:3])}); "
                "a new master key changes their users' sub values. Re-run with "
                "--allow-pairwise-change if those clients can re-link their users"
            )
        current = await _master_box(settings, storage)
        new = SecretBox(new_key)
        if new_key == load_master_key(settings.master_key, settings.data_dir).key:
            raise ConfigError("the new master key is the current one; nothing to do")
        done = await rewrap(storage, current, new)
        factors = SecondFactors(store=storage, sealer=new, clock=SystemClock(), issuer_name="")
        return done, await factors.reseal(current)


def _rotation(settings: Settings, storage: KeyStore, box: SecretBox) -> KeyRotation:
    return KeyRotation.from_settings(settings, storage, box, SystemClock())


async def _master_box(settings: Settings, storage: KeyStore) -> SecretBox:
    """The servers' master key; refused if it does not open the stored active keys
    (a wrong data dir or env would seal new keys the servers cannot read)."""
    stored = await storage.list_keys()
    path = settings.data_dir / FILE_NAME
    if stored and settings.master_key is None and not path.exists():
        raise ConfigError(
            f"no master key: set {ENV_VAR} or use the data dir holding {FILE_NAME} "
            "(the one the servers use)"
        )
    box = SecretBox(load_master_key(settings.master_key, settings.data_dir).key)
    active = [key for key in stored if key.status == "active"]
    if active and not any(opens(box, key) for key in active):
        raise ConfigError(
            "this master key does not decrypt the stored signing keys; "
            f"use the servers' {ENV_VAR} or data dir"
        )
    return box
