"""``tollhouse sessions``: browser sessions (single sign-on), listed and revoked."""

from __future__ import annotations

from pathlib import Path

import click

from tollhouse.cli.context import echo_json, fail, run, settings_from, state_options
from tollhouse.cli.output import echo_table, iso_utc, note, usage_error
from tollhouse.config import Settings
from tollhouse.models import Session
from tollhouse.provider import Provider, build_provider
from tollhouse.storage.sql.storage import open_storage

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group()
def sessions() -> None:
    """Signed-in browser sessions (single sign-on)."""


@sessions.command("list")
@click.option("--user", "username", default=None, help="Only this user's sessions.")
@json_option
@state_options
def list_(username: str | None, as_json: bool, data_dir: Path | None, database: str | None) -> None:
    """List live sessions (never the cookie values)."""
    rows = run(_list(settings_from(data_dir, database), username))
    if as_json:
        echo_json(rows)
        return
    if not rows:
        note("no sessions")
        return
    echo_table(
        ["sid", "user", "signed in", "last active", "expires", "clients"],
        (
            [
                str(r["sid"]),
                str(r["username"]),
                iso_utc(int(str(r["auth_time"]))),
                iso_utc(int(str(r["last_active_at"]))),
                iso_utc(int(str(r["expires_at"]))),
                " ".join(r["clients"]) or "-",  # type: ignore[arg-type]
            ]
            for r in rows
        ),
    )


async def _list(settings: Settings, username: str | None) -> list[dict[str, object]]:
    storage = await open_storage(settings.database_url)
    try:
        user_id = None
        if username is not None:
            user = await storage.get_user_by_username(username)
            if user is None:
                fail(f"no user {username}")
            user_id = user.user_id
        names = {u.user_id: u.username for u in await storage.list_users()}
        rows: list[dict[str, object]] = []
        for session in await storage.list_sessions(user_id):
            rows.append(
                {
                    "sid": session.sid,
                    "user_id": session.user_id,
                    "username": names.get(session.user_id, session.user_id),
                    "auth_time": session.auth_time,
                    "created_at": session.created_at,
                    "last_active_at": session.last_active_at or session.created_at,
                    "expires_at": session.expires_at,
                    "amr": list(session.amr),
                    "clients": await storage.session_clients(session.sid) if session.sid else [],
                }
            )
        return rows
    finally:
        await storage.close()


@sessions.command("revoke")
@click.argument("sid", required=False)
@click.option("--user", "username", default=None, help="Revoke every session of this user.")
@state_options
def revoke(
    sid: str | None, username: str | None, data_dir: Path | None, database: str | None
) -> None:
    """End a session (or all of a user's): like /logout, with back-channel logout."""
    if (sid is None) == (username is None):
        usage_error("give a SID or --user USERNAME")
    count = run(_revoke(settings_from(data_dir, database), sid, username))
    click.echo(f"revoked {count} session{'s' if count != 1 else ''}")


async def _revoke(settings: Settings, sid: str | None, username: str | None) -> int:
    storage = await open_storage(settings.database_url)
    provider: Provider | None = None
    try:
        provider = await build_provider(settings, storage)
        targets: list[Session]
        if sid is not None:
            session = await storage.get_session_by_sid(sid)
            if session is None:
                fail(f"no session {sid}")
            targets = [session]
        else:
            user = await storage.get_user_by_username(str(username))
            if user is None:
                fail(f"no user {username}")
            targets = await storage.list_sessions(user.user_id)
        for session in targets:
            await provider.sessions.end(session, "revoked_by_admin")
        return len(targets)
    finally:
        # The provider's close also ends its signing threads and closes the storage.
        await (provider.close() if provider is not None else storage.close())
