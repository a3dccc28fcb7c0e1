"""The options of ``clients create`` and ``clients update`` about how a client
authenticates and sends its authorization requests: ``--auth-method``, ``--jwks-file``,
``--jwks-uri``, ``--require-par`` and ``--require-signed-request``; and ``clients
update`` itself, which changes them (a key rotation, a move off secrets).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from tollhouse.cli.clients.metadata import json_option, metadata, record_fields
from tollhouse.cli.context import echo_json, run, settings_from, state_options, storage_for
from tollhouse.cli.dashed_arguments import DashedArgumentCommand
from tollhouse.cli.output import echo_record, note, usage_error
from tollhouse.config import Settings
from tollhouse.errors import InvalidClientMetadata, NotFound
from tollhouse.models import AuthMethod, Client
from tollhouse.protocol.client_key_metadata import KeyMetadata, key_metadata
from tollhouse.protocol.tls_client_auth import MTLS_METHODS, NAME_KINDS

F = TypeVar("F", bound=Callable[..., Any])
AUTH_METHODS = [method.value for method in AuthMethod]


@dataclass(frozen=True, slots=True)
class KeyOptions:
    """The values of the options :func:`key_options` adds, as one argument."""

    auth_method: str | None
    jwks_file: Path | None
    jwks_uri: str | None
    require_par: bool | None
    require_signed: bool | None
    tls_names: tuple[tuple[str, str], ...] | None = None
    """RFC 8705 §2.1.2 expected certificate names given (``--tls-subject-dn``, ...)."""

    def read(self, method: str) -> KeyMetadata:
        return read_keys(
            method,
            self.jwks_file,
            self.jwks_uri,
            self.require_par,
            self.require_signed,
            dict(self.tls_names or ()),
        )


def key_options(command: F) -> F:
    """Add the key options; the command receives them as ``key_options``."""

    @functools.wraps(command)
    def bundled(*args: Any, **kwargs: Any) -> Any:
        kwargs["key_options"] = KeyOptions(
            kwargs.pop("auth_method"),
            kwargs.pop("jwks_file"),
            kwargs.pop("jwks_uri"),
            kwargs.pop("require_par"),
            kwargs.pop("require_signed_request"),
            _tls_names(kwargs),
        )
        return command(*args, **kwargs)

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
        *TLS_NAME_OPTIONS,
    )
    decorated: Callable[..., Any] = bundled
    for option in reversed(options):
        decorated = option(decorated)
    return cast(F, decorated)


TLS_NAME_OPTIONS = tuple(
    click.option(
        f"--tls-{kind.replace('_', '-')}",
        f"tls_{kind}",
        default=None,
        metavar="NAME",
        help=f"tls_client_auth: the certificate's expected {label} (RFC 8705 2.1.2).",
    )
    for kind, label in (
        ("subject_dn", "subject DN, RFC 4514 (e.g. CN=billing,O=Example)"),
        ("san_dns", "DNS name SAN"),
        ("san_uri", "URI SAN"),
        ("san_ip", "IP address SAN"),
        ("san_email", "e-mail SAN"),
    )
)


def _tls_names(kwargs: dict[str, Any]) -> tuple[tuple[str, str], ...] | None:
    names = {kind: kwargs.pop(f"tls_{kind}") for kind in NAME_KINDS}
    given = tuple((kind, value) for kind, value in names.items() if value is not None)
    return given or None


def read_keys(
    method: str,
    jwks_file: Path | None,
    jwks_uri: str | None,
    require_par: bool | None,
    require_signed: bool | None,
    tls_names: dict[str, str] | None = None,
) -> KeyMetadata:
    """The checked key metadata of the options (the rules of RFC 7591 registration,
    except that an operator may choose an http or internal jwks_uri)."""
    body: dict[str, Any] = {
        "jwks_uri": jwks_uri,
        "require_pushed_authorization_requests": bool(require_par),
        "require_signed_request_object": bool(require_signed),
        **{f"tls_client_auth_{kind}": value for kind, value in (tls_names or {}).items()},
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
        tls_client_auth_kind=keys.tls_client_auth_kind,
        tls_client_auth_name=keys.tls_client_auth_name,
    )


@click.command("update", cls=DashedArgumentCommand)
@click.argument("client_id")
@key_options
@json_option
@state_options
def update(
    client_id: str,
    key_options: KeyOptions,
    as_json: bool,
    data_dir: Path | None,
    database: str | None,
) -> None:
    """Change how a client authenticates: its keys (a rotation), its auth method, PAR
    and signed-request requirements. Options not given keep their values; new keys
    replace the old ones (give --jwks-file or --jwks-uri)."""
    settings = settings_from(data_dir, database)
    if all(value is None for value in dataclasses.astuple(key_options)):
        usage_error("nothing to change; give --auth-method, --jwks-file, --jwks-uri, ...")
    client = run(_update(settings, client_id, key_options))
    meta = metadata(client)
    if as_json:
        echo_json(meta)
    else:
        echo_record([("client_id", client.client_id), *record_fields(meta)])


async def _update(settings: Settings, client_id: str, options: KeyOptions) -> Client:
    async with storage_for(settings) as storage:
        client = await storage.get_client(client_id)
        if client is None:
            raise NotFound(f"no client {client_id}")
        method = options.auth_method or client.token_endpoint_auth_method
        updated = dataclasses.replace(
            with_keys(client, _new_keys(client, method, options)),
            token_endpoint_auth_method=method,
        )
        if method in (AuthMethod.NONE, AuthMethod.PRIVATE_KEY_JWT) or method in MTLS_METHODS:
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


def _new_keys(client: Client, method: str, options: KeyOptions) -> KeyMetadata:
    """The options applied to the client's key metadata; what is not given is kept."""
    par = options.require_par
    signed = options.require_signed
    merged = dataclasses.replace(
        options,
        require_par=client.require_pushed_authorization_requests if par is None else par,
        require_signed=client.require_signed_request_object if signed is None else signed,
    )
    if options.jwks_file is not None or options.jwks_uri is not None or options.tls_names:
        return merged.read(method)
    if method == AuthMethod.PRIVATE_KEY_JWT and client.jwks is None and client.jwks_uri is None:
        usage_error("private_key_jwt needs the client's public keys: --jwks-file or --jwks-uri")
    return KeyMetadata(
        jwks=client.jwks,
        jwks_uri=client.jwks_uri,
        require_pushed_authorization_requests=bool(merged.require_par),
        require_signed_request_object=bool(merged.require_signed),
        tls_client_auth_kind=client.tls_client_auth_kind,
        tls_client_auth_name=client.tls_client_auth_name,
    )
