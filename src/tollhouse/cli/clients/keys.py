"""The options of ``clients create`` and ``clients update`` about how a client
authenticates and sends its authorization requests: ``--auth-method``, ``--jwks-file``,
``--jwks-uri``, ``--require-par`` and ``--require-signed-request``; and ``clients
update`` itself, which changes them (a key rotation, a move off secrets).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from tollhouse.cli.clients.metadata import json_option, metadata, record_fields
from tollhouse.cli.context import echo_json, run, settings_from, state_options, storage_for
from tollhouse.cli.dashed_arguments import DashedArgumentCommand
from tollhouse.cli.output import echo_record, note, usage_error
from tollhouse.config import Settings
from tollhouse.errors import InvalidClientMetadata, NotFound
from tollhouse.models import AuthMethod, Client
from tollhouse.protocol.client_key_metadata import KeyMetadata, key_metadata

F = TypeVar("F", bound=Callable[..., Any])
AUTH_METHODS = [method.value for method in AuthMethod]


def key_options(command: F) -> F:
    options = (
        click.option(
            "--auth-method",
            type=click.Choice(AUTH_METHODS),
            default=None,
            help="token_endpoint_auth_method (default client_secret_basic; none with "
            "--public). private_key_jwt needs --jwks-file or --jwks-uri.",
        ),
        click.option(
            "--jwks-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help='A JSON file with the client\'s public keys (a JWK Set: {"keys": [...]}).',
        ),
        click.option(
            "--jwks-uri",
            default=None,
            metavar="URL",
            help="Where the client publishes its JWK Set (https; http only on a network "
            "you trust).",
        ),
        click.option(
            "--require-par/--no-require-par",
            default=None,
            help="Authorization requests only through /par (RFC 9126).",
        ),
        click.option(
            "--require-signed-request/--no-require-signed-request",
            default=None,
            help="Authorization requests only as signed request objects (RFC 9101).",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def read_keys(
    method: str,
    jwks_file: Path | None,
    jwks_uri: str | None,
    require_par: bool | None,
    require_signed: bool | None,
) -> KeyMetadata:
    """The checked key metadata of the options (the rules of RFC 7591 registration,
    except that an operator may choose an http or internal jwks_uri)."""
    body: dict[str, Any] = {
        "jwks_uri": jwks_uri,
        "require_pushed_authorization_requests": bool(require_par),
        "require_signed_request_object": bool(require_signed),
    }
    if jwks_file is not None:
        try:
            body["jwks"] = json.loads(jwks_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeError, ValueError) as exc:
            usage_error(f"--jwks-file: cannot read a JSON document: {exc}")
    try:
        return key_metadata(body, method, https_only=False)
    except InvalidClientMetadata as error:
        usage_error(error.description)


def with_keys(client: Client, keys: KeyMetadata) -> Client:
    return dataclasses.replace(
        client,
        jwks=keys.jwks,
        jwks_uri=keys.jwks_uri,
        require_pushed_authorization_requests=keys.require_pushed_authorization_requests,
        require_signed_request_object=keys.require_signed_request_object,
    )


@click.command("update", cls=DashedArgumentCommand)
@click.argument("client_id")
@key_options
@json_option
@state_options
def update(
    client_id: str,
    auth_method: str | None,
    jwks_file: Path | None,
    jwks_uri: str | None,
    require_par: bool | None,
    require_signed_request: bool | None,
    as_json: bool,
    data_dir: Path | None,
    database: str | None,
) -> None:
    """Change how a client authenticates: its keys (a rotation), its auth method, PAR
    and signed-request requirements. Options not given keep their values; new keys
    replace the old ones (give --jwks-file or --jwks-uri)."""
    settings = settings_from(data_dir, database)
    changes = (auth_method, jwks_file, jwks_uri, require_par, require_signed_request)
    if all(value is None for value in changes):
        usage_error("nothing to change; give --auth-method, --jwks-file, --jwks-uri, ...")
    client = run(
        _update(
            settings,
            client_id,
            auth_method,
            jwks_file,
            jwks_uri,
            require_par,
            require_signed_request,
        )
    )
    meta = metadata(client)
    if as_json:
        echo_json(meta)
    else:
        echo_record([("client_id", client.client_id), *record_fields(meta)])


async def _update(
    settings: Settings,
    client_id: str,
    auth_method: str | None,
    jwks_file: Path | None,
    jwks_uri: str | None,
    require_par: bool | None,
    require_signed: bool | None,
) -> Client:
    async with storage_for(settings) as storage:
        client = await storage.get_client(client_id)
        if client is None:
            raise NotFound(f"no client {client_id}")
        method = auth_method or client.token_endpoint_auth_method
        keep_keys = jwks_file is None and jwks_uri is None
        keys = (
            read_keys(
                method,
                jwks_file,
                jwks_uri,
                client.require_pushed_authorization_requests
                if require_par is None
                else require_par,
                client.require_signed_request_object if require_signed is None else require_signed,
            )
            if not keep_keys
            else _kept(client, method, require_par, require_signed)
        )
        updated = dataclasses.replace(with_keys(client, keys), token_endpoint_auth_method=method)
        if method in (AuthMethod.NONE, AuthMethod.PRIVATE_KEY_JWT):
            updated = dataclasses.replace(
                updated,
                secret_hash=None,
                previous_secret_hash=None,
                previous_secret_expires_at=None,
            )
        elif updated.secret_hash is None:
            note(
                f"{client_id} has no secret yet: run `tollhouse clients rotate-secret {client_id}`"
            )
        if not await storage.update_client(updated):
            raise NotFound(f"no client {client_id}")
    return updated


def _kept(
    client: Client, method: str, require_par: bool | None, require_signed: bool | None
) -> KeyMetadata:
    keys = KeyMetadata(
        jwks=client.jwks,
        jwks_uri=client.jwks_uri,
        require_pushed_authorization_requests=(
            client.require_pushed_authorization_requests if require_par is None else require_par
        ),
        require_signed_request_object=(
            client.require_signed_request_object if require_signed is None else require_signed
        ),
    )
    if method == AuthMethod.PRIVATE_KEY_JWT and keys.jwks is None and keys.jwks_uri is None:
        usage_error("private_key_jwt needs the client's public keys: --jwks-file or --jwks-uri")
    return keys
