"""``tollhouse apis``: the resource servers tokens are minted for (RFC 8707).

An API is named by its identifier — the ``resource`` value clients send and the ``aud``
of the tokens minted for it — and owns its scopes: a scope belongs to one API only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

import click

from tollhouse.cli.context import echo_json, run, settings_from, state_options, storage_for
from tollhouse.cli.output import echo_record, echo_table, iso_utc, note, usage_error
from tollhouse.clock import SystemClock
from tollhouse.config import Settings
from tollhouse.errors import NotFound, OAuthError
from tollhouse.models import Api
from tollhouse.protocol.scopes import IDP_SCOPES, check_resource, check_scope_name

# RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":".
_ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")

MAX_DESCRIPTION = 200
"""Characters of a scope description: one line on the consent page."""


class ApiRecord(TypedDict):
    identifier: str
    name: str | None
    scopes: list[str]
    scope_descriptions: dict[str, str]
    created_at: str


def record(api: Api) -> ApiRecord:
    return {
        "identifier": api.identifier,
        "name": api.name,
        "scopes": list(api.scopes),
        "scope_descriptions": dict(api.descriptions),
        "created_at": iso_utc(api.created_at),
    }


@click.group()
def apis() -> None:
    """APIs (resource servers): token audiences and the scopes they own."""


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def check_identifier(identifier: str) -> str:
    """RFC 8707 §2: "MUST be an absolute URI ... MUST NOT include a fragment component"."""
    if not _ABSOLUTE_URI.fullmatch(identifier) or "#" in identifier:
        usage_error(
            f"--identifier {identifier!r} must be an absolute URI without a fragment "
            "(RFC 8707 §2), e.g. https://api.example.com"
        )
    try:
        return check_resource(identifier)
    except OAuthError as exc:
        usage_error(f"--identifier: {exc.description}")


def _check_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    for scope in scopes:
        try:
            check_scope_name(scope)
        except ValueError as exc:
            usage_error(f"--scope: {exc}")
        if scope in IDP_SCOPES:
            usage_error(f"--scope: {scope!r} is defined by the identity provider itself")
    return tuple(dict.fromkeys(scopes))


def _check_descriptions(pairs: Sequence[tuple[str, str]], scopes: Sequence[str]) -> dict[str, str]:
    """``--scope-description SCOPE TEXT`` pairs as scope → text, each naming a
    ``--scope`` of this API and fitting one printable line."""
    descriptions: dict[str, str] = {}
    for scope, text in pairs:
        if scope not in scopes:
            usage_error(f"--scope-description: {scope!r} is not one of this API's --scope values")
        text = text.strip()
        if not text or len(text) > MAX_DESCRIPTION or not text.isprintable():
            usage_error(
                f"--scope-description {scope}: give 1-{MAX_DESCRIPTION} printable "
                "characters on one line"
            )
        descriptions[scope] = text
    return descriptions


@apis.command("create")
@click.option("--identifier", required=True, metavar="URI", help="Absolute URI (the audience).")
@click.option(
    "--scope", "scopes", multiple=True, required=True, help="A scope it owns (repeatable)."
)
@click.option(
    "--scope-description",
    "descriptions",
    type=(str, str),
    multiple=True,
    metavar="SCOPE TEXT",
    help="What SCOPE lets a client do, in plain words for the consent page, e.g. "
    '--scope-description read_sensors "Read sensor readings" (repeatable; '
    "default: the scope name).",
)
@click.option("--name", default=None, help="Human-readable name.")
@json_option
@state_options
def create(
    identifier: str,
    scopes: tuple[str, ...],
    descriptions: tuple[tuple[str, str], ...],
    name: str | None,
    as_json: bool,
    data_dir: Path | None,
    database: str | None,
) -> None:
    """Register an API and the scopes it owns."""
    owned = _check_scopes(scopes)
    api = Api(
        identifier=check_identifier(identifier),
        scopes=owned,
        created_at=SystemClock().now(),
        name=name,
        descriptions=_check_descriptions(descriptions, owned),
    )
    run(_add(settings_from(data_dir, database), api))
    if as_json:
        echo_json(record(api))
        return
    echo_record(
        [
            ("identifier", api.identifier),
            ("name", api.name),
            ("scopes", " ".join(api.scopes)),
            *((f"scope {scope}", text) for scope, text in api.descriptions.items()),
            ("created_at", iso_utc(api.created_at)),
        ]
    )


async def _add(settings: Settings, api: Api) -> None:
    async with storage_for(settings) as storage:
        await storage.add_api(api)


@apis.command("list")
@json_option
@state_options
def list_(as_json: bool, data_dir: Path | None, database: str | None) -> None:
    """List the APIs and their scopes."""
    found = run(_list(settings_from(data_dir, database)))
    if as_json:
        echo_json([record(api) for api in found])
        return
    if not found:
        note("no APIs yet; register one with `tollhouse apis create`")
        return
    echo_table(
        ["identifier", "name", "scopes", "created_at"],
        (
            [api.identifier, api.name or "-", " ".join(api.scopes), iso_utc(api.created_at)]
            for api in found
        ),
    )


async def _list(settings: Settings) -> list[Api]:
    async with storage_for(settings) as storage:
        return await storage.list_apis()


@apis.command("delete")
@click.argument("identifier")
@state_options
def delete(identifier: str, data_dir: Path | None, database: str | None) -> None:
    """Delete an API; its scopes are freed."""
    stranded = run(_delete(settings_from(data_dir, database), identifier))
    click.echo(f"deleted API {identifier}")
    if stranded:
        note(
            f"warning: clients {' '.join(stranded)} are registered with its scopes, now "
            "undefined (`tollhouse doctor` lists them)"
        )


async def _delete(settings: Settings, identifier: str) -> list[str]:
    """Delete the API; the ids of the clients registered with one of its scopes."""
    async with storage_for(settings) as storage:
        owned = {
            scope
            for api in await storage.list_apis()
            if api.identifier == identifier
            for scope in api.scopes
        }
        if not await storage.delete_api(identifier):
            raise NotFound(f"no API {identifier}")
        clients = await storage.list_clients()
    return [c.client_id for c in clients if owned & set(c.scopes or ())]
