"""``tollhouse keys export``: a published public key as a file others can use.

A resource server that verifies tokens with ``openssl dgst -verify public.pem`` (or
pins the IdP's key in ``pubkey.pem``) needs the key as PEM (RFC 7468 §13,
SubjectPublicKeyInfo); the JWKS holds it as a JWK (RFC 7517). Only public data is
read, so the master key is not needed. Published keys are those in the JWKS now:
pending, signing and retired ones (:mod:`tollhouse.keys.lifecycle`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from joserfc import jwk

from tollhouse.algorithms import SIGNING_ALGS as SUPPORTED_ALGS
from tollhouse.cli.context import fail, run, settings_from, state_options, storage_for
from tollhouse.cli.dashed_arguments import DashedArgumentCommand
from tollhouse.cli.output import note, usage_error
from tollhouse.clock import SystemClock
from tollhouse.config import Settings
from tollhouse.keys.lifecycle import KeyPhase, phases
from tollhouse.keys.rotation import retention_for


@click.command("export", cls=DashedArgumentCommand)  # a kid may start with "-"
@click.argument("kid", required=False)
@click.option(
    "--pem", "form", flag_value="pem", default=True, help="PEM SubjectPublicKeyInfo (default)."
)
@click.option("--jwk", "form", flag_value="jwk", help="The public JWK, as in the JWKS.")
@click.option(
    "--alg",
    type=click.Choice(SUPPORTED_ALGS),
    default=None,
    help="Without KID: the key signing this alg now (default TOLLHOUSE_SIGNING_ALG; "
    "ID Tokens are RS256 unless the client chose another).",
)
@state_options
def export(
    kid: str | None, form: str, alg: str | None, data_dir: Path | None, database: str | None
) -> None:
    """Print a published public key: KID, or the current signing key.

    \b
    tollhouse keys export --pem > public.pem
    openssl dgst -sha256 -verify public.pem -signature sig.der signing-input.txt
    (docs/tokens.md, "Verify a token with openssl")
    """
    if kid is not None and alg is not None:
        usage_error("give KID or --alg, not both")
    settings = settings_from(data_dir, database)
    views = run(_phases(settings))
    view = (
        _published(views, kid) if kid is not None else _signing(views, alg or settings.signing_alg)
    )
    note(f"key {view.key.kid} ({view.key.alg}, {view.phase})")
    if form == "jwk":
        click.echo(json.dumps(view.key.public_jwk, indent=2, sort_keys=True))
        return
    click.echo(_pem(view.key.public_jwk), nl=False)


def _pem(public_jwk: dict[str, Any]) -> str:
    """RFC 7468 §13 ``PUBLIC KEY``: DER SubjectPublicKeyInfo, base64 in 64-column lines."""
    key = jwk.import_key(public_jwk)
    if not isinstance(key, jwk.ECKey | jwk.RSAKey | jwk.OKPKey):
        fail(f"key type {public_jwk.get('kty')!r} has no public key")
    return key.as_pem(private=False).decode("ascii")


async def _phases(settings: Settings) -> list[KeyPhase]:
    async with storage_for(settings) as storage:
        records = await storage.list_keys()
    return phases(records, SystemClock().now(), retention_for(settings))


def _published(views: Sequence[KeyPhase], kid: str) -> KeyPhase:
    for view in views:
        if view.key.kid == kid:
            if not view.published:
                fail(f"key {kid} is {view.phase}: no longer published, no token it signed is valid")
            return view
    fail(f"no signing key {kid}; `tollhouse keys list` shows the published ones")


def _signing(views: Sequence[KeyPhase], alg: str) -> KeyPhase:
    for view in views:
        if view.signs and view.key.alg == alg:
            return view
    fail(f"no {alg} key signs yet; `tollhouse serve` creates one on first start")
