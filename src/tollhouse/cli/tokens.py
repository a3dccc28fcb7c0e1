"""``tollhouse tokens revoke``: the same revocation path as ``/revoke``."""

from __future__ import annotations

from pathlib import Path

import click

from tollhouse.cli.context import fail, run, settings_from, state_options, storage_for
from tollhouse.cli.output import usage_error
from tollhouse.clock import SystemClock
from tollhouse.config import MAX_ACCESS_TOKEN_TTL, Settings
from tollhouse.protocol.revocation import Revoker
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
    count = run(_revoke(settings, jti=jti, client_id=client_id, username=username))
    families = "" if jti is not None else " and every refresh token family"
    click.echo(f"revoked {count} access token{'s' if count != 1 else ''}{families}")


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


async def _revoke(
    settings: Settings, *, jti: str | None, client_id: str | None, username: str | None
) -> int:
    clock = SystemClock()
    async with storage_for(settings) as storage:
        mirrors = await revocation_mirrors(settings)
        try:
            revoker = Revoker(storage, storage, storage, clock, mirrors)
            if jti is not None:
                record = await storage.get_access_token(jti)
                # An unknown jti (issued elsewhere, or already purged) is listed for the
                # longest lifetime an access token can have.
                exp = record.expires_at if record else clock.now() + MAX_ACCESS_TOKEN_TTL
                await revoker.revoke_access_token(jti, exp, "revoked_by_admin")
                return 1
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
