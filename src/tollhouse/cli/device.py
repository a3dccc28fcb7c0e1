"""``tollhouse device``: the RFC 8628 requests waiting for a person, listed and denied.

The list never shows a code (both are stored only as fingerprints); ``deny`` takes the
user code the person reads from the device, in any case, with or without the dash.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from tollhouse.cli.context import echo_json, fail, run, settings_from, state_options
from tollhouse.cli.output import echo_table, iso_utc, note
from tollhouse.clock import SystemClock
from tollhouse.config import Settings
from tollhouse.observability.audit import AuditTrail
from tollhouse.protocol.device import DeviceVerification
from tollhouse.storage.sql.storage import SqlStorage, open_storage


@click.group()
def device() -> None:
    """Device authorization requests (RFC 8628) waiting for a person at /device."""


def _verification(storage: SqlStorage, settings: Settings) -> DeviceVerification:
    return DeviceVerification(
        devices=storage,
        codes=storage,
        clients=storage,
        clock=SystemClock(),
        issuer=settings.issuer_url,
        events=AuditTrail(),
    )


@device.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@state_options
def list_(as_json: bool, data_dir: Path | None, database: str | None) -> None:
    """List pending requests: client, address, user agent, age (never the codes)."""
    rows = run(_list(settings_from(data_dir, database)))
    if as_json:
        echo_json(rows)
        return
    if not rows:
        note("no pending device requests")
        return
    echo_table(
        ["client", "ip", "user agent", "age", "scopes", "expires"],
        (
            [
                str(r["client_id"]),
                str(r["ip"] or "-"),
                str(r["user_agent"] or "-"),
                f"{r['age']}s",
                " ".join(r["scopes"]) or "-",  # type: ignore[arg-type]
                iso_utc(int(str(r["expires_at"]))),
            ]
            for r in rows
        ),
    )


async def _list(settings: Settings) -> list[dict[str, object]]:
    storage = await open_storage(settings.database_url)
    try:
        now = int(time.time())
        return [
            {
                "client_id": d.client_id,
                "ip": d.ip,
                "user_agent": d.user_agent,
                "scopes": list(d.scopes),
                "audience": d.audience,
                "age": now - d.created_at,
                "created_at": d.created_at,
                "expires_at": d.expires_at,
            }
            for d in await _verification(storage, settings).list_pending()
        ]
    finally:
        await storage.close()


@device.command("deny")
@click.argument("user_code")
@state_options
def deny(user_code: str, data_dir: Path | None, database: str | None) -> None:
    """Deny the pending request with USER_CODE: the device's next poll gets
    access_denied."""
    client_id = run(_deny(settings_from(data_dir, database), user_code))
    if client_id is None:
        fail("no pending device request has this user code")
    note(f"denied the request of {client_id}")


async def _deny(settings: Settings, user_code: str) -> str | None:
    storage = await open_storage(settings.database_url)
    try:
        denied = await _verification(storage, settings).deny_user_code(user_code)
        return None if denied is None else denied.client_id
    finally:
        await storage.close()
