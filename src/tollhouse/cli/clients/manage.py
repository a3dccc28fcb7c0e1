"""``clients list``, ``clients show``, ``clients delete`` and ``clients trust``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from tollhouse.cli.clients.metadata import json_option, metadata, record_fields
from tollhouse.cli.context import echo_json, run, settings_from, state_options, storage_for
from tollhouse.cli.dashed_arguments import DashedArgumentCommand
from tollhouse.cli.output import echo_record, echo_table, note
from tollhouse.cli.tokens import revoke_all_of
from tollhouse.config import Settings
from tollhouse.errors import NotFound
from tollhouse.models import Client


@click.command("list")
@json_option
@state_options
def list_(as_json: bool, data_dir: Path | None, database: str | None) -> None:
    """List the registered clients (never their secrets)."""
    found = run(_list(settings_from(data_dir, database)))
    if as_json:
        echo_json([metadata(client) for client in found])
        return
    if not found:
        note("no clients yet; register one with `tollhouse clients create`")
        return
    echo_table(
        ["client_id", "name", "type", "grant types", "redirect URIs", "scope"],
        (
            [
                client.client_id,
                client.name,
                "public" if client.is_public else "confidential",
                " ".join(client.grant_types),
                " ".join(client.redirect_uris) or "-",
                "(any)" if client.scopes is None else " ".join(client.scopes),
            ]
            for client in found
        ),
    )


async def _list(settings: Settings) -> list[Client]:
    async with storage_for(settings) as storage:
        return await storage.list_clients()


@click.command("show", cls=DashedArgumentCommand)
@click.argument("client_id")
@json_option
@state_options
def show(client_id: str, as_json: bool, data_dir: Path | None, database: str | None) -> None:
    """Show one client's metadata."""
    client = run(_get(settings_from(data_dir, database), client_id))
    meta = metadata(client)
    if as_json:
        echo_json(meta)
        return
    kind = "public" if client.is_public else "confidential"
    echo_record([("client_id", client.client_id), ("type", kind), *record_fields(meta)])


async def _get(settings: Settings, client_id: str) -> Client:
    async with storage_for(settings) as storage:
        client = await storage.get_client(client_id)
    if client is None:
        raise NotFound(f"no client {client_id}")
    return client


@click.command("delete", cls=DashedArgumentCommand)
@click.argument("client_id")
@state_options
def delete(client_id: str, data_dir: Path | None, database: str | None) -> None:
    """Delete a client; its codes and consents go with it."""
    run(_delete(settings_from(data_dir, database), client_id))
    click.echo(f"deleted client {client_id}")


async def _delete(settings: Settings, client_id: str) -> None:
    async with storage_for(settings) as storage:
        if await storage.get_client(client_id) is None:
            raise NotFound(f"no client {client_id}")
        await revoke_all_of(settings, storage, client_id=client_id, reason="client_deleted")
        if not await storage.delete_client(client_id):
            raise NotFound(f"no client {client_id}")


@click.command("trust", cls=DashedArgumentCommand)
@click.argument("client_id")
@state_options
def trust(client_id: str, data_dir: Path | None, database: str | None) -> None:
    """Vouch for a client registered by a third party: its redirects go straight back
    to it and consent is remembered, as for the clients you create."""
    run(_trust(settings_from(data_dir, database), client_id))
    click.echo(f"client {client_id} is trusted")


async def _trust(settings: Settings, client_id: str) -> None:
    async with storage_for(settings) as storage:
        client = await storage.get_client(client_id)
        if client is None:
            raise NotFound(f"no client {client_id}")
        if not client.self_registered:
            return
        trusted = dataclasses.replace(client, self_registered=False)
        if not await storage.update_client(trusted):
            raise NotFound(f"no client {client_id}")
