"""``tollhouse tokens revoke``: the same revocation path as ``/revoke``."""

from __future__ import annotations

from pathlib import Path

import click

from tollhouse.cli.context import fail, run, settings_from, state_options, storage_for
from tollhouse.cli.output import iso_utc, usage_error
from tollhouse.clock import SystemClock
from tollhouse.config import MAX_ACCESS_TOKEN_TTL, Settings
from tollhouse.protocol.revocation import RETENTION_AFTER_EXP, Revoker
from tollhouse.provider import close_mirrors, revocation_mirrors
from tollhouse.storage.ports import Storage


@click.group()
def tokens() -> None:
    """Issued tokens: revoke them before they expire."""


@tokens.command("revoke")
@click.option("--jti", default=None, help="Revoke one access token by its jti.")
@click.option("--client", "client_id", default=None, help="Revoke every token of a client.")
@click.option("--user", "username", default=None, help="Revoke every token of a user.")
@click.option("--redis", default=None, help="Also write to this Redis (env TOLLHOUSE_REDIS).")
@state_options
def revoke(
    jti: str | None,
    client_id: str | None,
    username: str | None,
    redis: str | None,
    data_dir: Path | None,
    database: str | None,
) -> None:
    """Revoke access tokens (and refresh token families) now.

    Resource servers see it through the revocation feed, Redis or introspection.
    """
    chosen = [v for v in (jti, client_id, username) if v is not None]
    if len(chosen) != 1:
        usage_error("give exactly one of --jti, --client, --user")
    settings = settings_from(data_dir, database, redis=redis)
    if jti is not None:
        click.echo(run(_revoke_jti(settings, jti)))
        return
    count = run(_revoke(settings, client_id=client_id, username=username))
    click.echo(
        f"revoked {count} access token{'s' if count != 1 else ''} and every refresh token family"
    )


async def revoke_all_of(
    settings: Settings,
    storage: Storage,
    *,
    client_id: str | None = None,
    subject: str | None = None,
    reason: str,
) -> int:
    """Revoke every live token of a client or a subject (before deleting it)."""
    mirrors = await revocation_mirrors(settings)
    try:
        revoker = Revoker(storage, storage, storage, SystemClock(), mirrors)
        if client_id is not None:
            return await revoker.revoke_client(client_id, reason)
        assert subject is not None
        return await revoker.revoke_subject(subject, reason)
    finally:
        await close_mirrors(mirrors)


async def _revoke_jti(settings: Settings, jti: str) -> str:
    """Revoke one access token; what happened, in one line.

    An unknown jti is still listed, for the longest lifetime an access token can have:
    a resource server may hold a token whose record is gone (issued by an instance on
    another database, or purged after a restore).
    """
    clock = SystemClock()
    now = clock.now()
    async with storage_for(settings) as storage:
        record = await storage.get_access_token(jti)
        if record is not None and record.expires_at + RETENTION_AFTER_EXP <= now:
            return (
                f"access token {jti} expired at {iso_utc(record.expires_at)}; no resource "
                "server accepts it any more, so there was nothing to revoke"
            )
        already = await storage.is_revoked(jti, now)
        exp = now + MAX_ACCESS_TOKEN_TTL if record is None else record.expires_at
        mirrors = await revocation_mirrors(settings)
        try:
            revoker = Revoker(storage, storage, storage, clock, mirrors)
            await revoker.revoke_access_token(jti, exp, "revoked_by_admin")
        finally:
            await close_mirrors(mirrors)
    if already:
        return f"access token {jti} was already revoked"
    if record is None:
        return (
            f"no access token {jti} is on record here (issued elsewhere, or purged); listed "
            f"it as revoked anyway, until {iso_utc(exp)}, in case a resource server holds it"
        )
    return (
        f"revoked access token {jti} of client {record.client_id} "
        f"(it would have expired at {iso_utc(record.expires_at)})"
    )


async def _revoke(settings: Settings, *, client_id: str | None, username: str | None) -> int:
    clock = SystemClock()
    async with storage_for(settings) as storage:
        mirrors = await revocation_mirrors(settings)
        try:
            revoker = Revoker(storage, storage, storage, clock, mirrors)
            if client_id is not None:
                if await storage.get_client(client_id) is None:
                    fail(f"no client {client_id}")
                return await revoker.revoke_client(client_id, "revoked_by_admin")
            assert username is not None
            user = await storage.get_user_by_username(username)
            if user is None:
                fail(f"no user {username}")
            return await revoker.revoke_subject(user.user_id, "revoked_by_admin")
        finally:
            await close_mirrors(mirrors)
