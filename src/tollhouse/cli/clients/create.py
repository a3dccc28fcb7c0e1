"""``clients create``: register a client, with the secret of a confidential one
printed once."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import click

from tollhouse.algorithms import SIGNING_ALGS
from tollhouse.cli.clients.arguments import (
    GRANT_CHOICES,
    check_grant_types,
    check_redirect_uris,
    check_scopes,
    check_uris,
)
from tollhouse.cli.clients.keys import KeyOptions, key_options, with_keys
from tollhouse.cli.clients.metadata import json_option, metadata, record_fields
from tollhouse.cli.clients.secret import SECRET_WARNING, new_secret
from tollhouse.cli.context import echo_json, fail, run, settings_from, state_options, storage_for
from tollhouse.cli.hashing import client_secret_hasher
from tollhouse.cli.output import echo_record, note, usage_error
from tollhouse.clock import SystemClock
from tollhouse.config import MAX_ACCESS_TOKEN_TTL, Settings
from tollhouse.errors import Conflict, InvalidClientMetadata
from tollhouse.models import Api, AuthMethod, Client, GrantType
from tollhouse.protocol import client_ids, client_metadata, client_names
from tollhouse.protocol.client_metadata import cors_origins
from tollhouse.storage.ports import ApiStore

INTROSPECT_OWN_SCOPES = "*"
"""The value of a bare ``--introspect``: the APIs that own the client's scopes."""


def _logout_uris(post_logout: tuple[str, ...], backchannel: str | None) -> tuple[str, ...]:
    if backchannel is not None:
        check_uris((backchannel,), "--backchannel-logout-uri")
    return check_uris(post_logout, "--post-logout-redirect-uri")


@click.command("create")
@click.option("--name", required=True, help="Human-readable name (client_name).")
@click.option(
    "--client-id",
    "chosen_id",
    default=None,
    metavar="ID",
    help="Your own client_id, e.g. GRID_001: letters, digits, '.', '_', '-', 3-64 "
    "characters, starting with a letter or digit (default: 128 random bits).",
)
@click.option(
    "--redirect-uri",
    "redirect_uris",
    multiple=True,
    metavar="URI",
    help="Redirect URI (repeatable): https, or http on 127.0.0.1/[::1]. "
    "Required for authorization_code.",
)
@click.option(
    "--scope",
    "scope_values",
    multiple=True,
    metavar='"A B"',
    help="Space-separated scopes the client may request (default: any).",
)
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    type=click.Choice(GRANT_CHOICES),
    default=[GrantType.AUTHORIZATION_CODE.value],
    show_default=True,
    help="Grant type the client may use (repeatable; device_code names RFC 8628's).",
)
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE required).")
@click.option(
    "--introspect",
    "introspect",
    is_flag=False,
    flag_value=INTROSPECT_OWN_SCOPES,
    default=None,
    metavar="[API]",
    help="Register the client as a resource server that may introspect tokens whose aud "
    "is API (repeatable); without a value, the APIs owning its --scope.",
    multiple=True,
)
@click.option(
    "--access-token-ttl",
    type=click.IntRange(1, MAX_ACCESS_TOKEN_TTL),
    default=None,
    help=f"Access token lifetime for this client, seconds (≤ {MAX_ACCESS_TOKEN_TTL}).",
)
@click.option(
    "--refresh-token-ttl",
    type=click.IntRange(1),
    default=None,
    help="Refresh token idle lifetime for this client, seconds.",
)
@click.option(
    "--refresh-token-absolute-ttl",
    type=click.IntRange(1),
    default=None,
    help="Lifetime of this client's refresh token families, seconds.",
)
@click.option(
    "--post-logout-redirect-uri",
    "post_logout_redirect_uris",
    multiple=True,
    metavar="URI",
    help="Where /logout may send the browser (OIDC RP-Initiated Logout; repeatable).",
)
@click.option(
    "--backchannel-logout-uri",
    default=None,
    metavar="URI",
    help="Receives OIDC back-channel logout tokens.",
)
@click.option(
    "--id-token-alg",
    type=click.Choice(SIGNING_ALGS),
    default=None,
    help="ID Token signing alg (id_token_signed_response_alg; default RS256).",
)
@click.option(
    "--subject-type",
    type=click.Choice(["public", "pairwise"]),
    default="public",
    show_default=True,
    help="sub in ID Tokens and userinfo: the user's id, or one per client sector.",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    metavar="ORIGIN",
    help="A browser origin, besides the redirect URIs', that may call /token, /userinfo "
    "and /revoke (allowed_cors_origins; repeatable), e.g. https://app.example.",
)
@key_options
@click.option(
    "--dpop-bound",
    is_flag=True,
    help="Every token request must carry a DPoP proof: no bearer tokens for this client "
    "(dpop_bound_access_tokens, RFC 9449).",
)
@click.option(
    "--require-mfa",
    is_flag=True,
    help="Its users must pass a second factor (docs/mfa.md); a request cannot lower this.",
)
@click.option(
    "--require-passkey",
    is_flag=True,
    help="Its users must sign in with a passkey (acr phr, phishing-resistant; docs/mfa.md).",
)
@json_option
@state_options
def create(
    name: str,
    chosen_id: str | None,
    redirect_uris: tuple[str, ...],
    scope_values: tuple[str, ...],
    grant_types: tuple[str, ...],
    public: bool,
    introspect: tuple[str, ...],
    access_token_ttl: int | None,
    refresh_token_ttl: int | None,
    refresh_token_absolute_ttl: int | None,
    post_logout_redirect_uris: tuple[str, ...],
    backchannel_logout_uri: str | None,
    id_token_alg: str | None,
    subject_type: str,
    cors_origins: tuple[str, ...],
    key_options: KeyOptions,
    dpop_bound: bool,
    require_mfa: bool,
    require_passkey: bool,
    as_json: bool,
    data_dir: Path | None,
    database: str | None,
) -> None:
    """Register a client; a confidential one's secret is printed once."""
    if not name.strip():
        usage_error("--name must not be empty")
    client_id = client_ids.generate() if chosen_id is None else _checked_id(chosen_id)
    method = _checked_method(key_options.auth_method, public, introspect)
    public = method == AuthMethod.NONE
    keys = key_options.read(method)
    chosen = check_grant_types(grant_types, public)
    uris = check_redirect_uris(redirect_uris, chosen)
    scopes = check_scopes(scope_values)
    settings = settings_from(data_dir, database)
    secret = new_secret() if method in SECRET_METHODS else None
    client = Client(
        client_id=client_id,
        name=name,
        redirect_uris=uris,
        grant_types=chosen,
        token_endpoint_auth_method=method,
        created_at=SystemClock().now(),
        secret_hash=None if secret is None else client_secret_hasher(settings).hash(secret),
        scopes=scopes,
        access_token_ttl=access_token_ttl,
        refresh_token_ttl=refresh_token_ttl,
        refresh_token_absolute_ttl=refresh_token_absolute_ttl,
        post_logout_redirect_uris=_logout_uris(post_logout_redirect_uris, backchannel_logout_uri),
        backchannel_logout_uri=backchannel_logout_uri,
        id_token_signed_response_alg=id_token_alg,
        subject_type=subject_type,
        allowed_cors_origins=_cors_origins(cors_origins),
        dpop_bound_access_tokens=dpop_bound,
        require_mfa=require_mfa,
        require_passkey=require_passkey,
    )
    added = run(_add(settings, with_keys(client, keys), introspect, chosen_id is not None))
    _print_created(added, secret, as_json)


SECRET_METHODS = (AuthMethod.CLIENT_SECRET_BASIC, AuthMethod.CLIENT_SECRET_POST)


def _checked_method(auth_method: str | None, public: bool, introspect: tuple[str, ...]) -> str:
    method = _method(auth_method, public)
    if method == AuthMethod.NONE and introspect:
        usage_error("a public client cannot introspect tokens (it cannot authenticate)")
    return method


def _method(auth_method: str | None, public: bool) -> str:
    if auth_method is None:
        return AuthMethod.NONE if public else AuthMethod.CLIENT_SECRET_BASIC
    if public and auth_method != AuthMethod.NONE:
        usage_error("--public means --auth-method none")
    return auth_method


def _checked_id(client_id: str) -> str:
    try:
        return client_ids.check_chosen(client_id)
    except ValueError as exc:
        usage_error(f"--client-id: {exc}")


def _cors_origins(values: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return cors_origins(values)
    except InvalidClientMetadata as error:
        usage_error(f"--cors-origin: {error.description}")


def _print_created(client: Client, secret: str | None, as_json: bool) -> None:
    """The client's metadata, with its secret (shown this once) for a confidential one."""
    meta = metadata(client)
    if as_json:
        output: dict[str, object] = {**meta, "client_secret": secret}
        if secret is not None:
            output["client_secret_expires_at"] = 0  # RFC 7591 §3.2.1: 0 = never
        echo_json(output)
        return
    fields: list[tuple[str, str | None]] = [("client_id", client.client_id)]
    if secret is not None:
        fields.append(("client_secret", secret))
    echo_record(fields + record_fields(meta))
    if secret is not None:
        click.echo(SECRET_WARNING)


async def _add(
    settings: Settings, client: Client, introspect: Sequence[str], chosen_id: bool
) -> Client:
    async with storage_for(settings) as storage:
        _check_defined(client.scopes, await storage.list_apis())
        _warn_if_named_alike(client, await storage.list_clients())
        if introspect:
            audiences = await _introspect_audiences(storage, client, introspect)
            client = dataclasses.replace(client, introspect_audiences=audiences)
        try:
            await storage.add_client(client)
        except Conflict:
            if not chosen_id:
                raise
            fail(f"client id {client.client_id} is already in use; choose another --client-id")
    return client


def _warn_if_named_alike(client: Client, others: Sequence[Client]) -> None:
    """Unlike RFC 7591 registration, which refuses a name in use, the operator decides:
    a name squatted through open registration must not stop the real client."""
    holder = client_names.holder_of(client.name, others)
    if holder is None:
        return
    who = "registered by a third party over HTTP" if holder.self_registered else "created earlier"
    note(
        f"warning: another client, {holder.client_id} ({who}), is named {holder.name!r}; "
        "users cannot tell the two apart on the sign-in and consent pages. If it is not "
        f"yours, remove it with `tollhouse clients delete {holder.client_id}`"
    )


def _check_defined(scopes: Sequence[str] | None, apis: Sequence[Api]) -> None:
    """A scope no API and no OpenID Connect defines would make every token request of
    the client fail with invalid_scope: refused now, with the way to define it."""
    undefined = client_metadata.undefined_scopes(scopes or (), client_metadata.defined_scopes(apis))
    if undefined:
        names, verb = " ".join(undefined), "is" if len(undefined) == 1 else "are"
        fail(
            f"--scope: {names} {verb} not defined here (neither by OpenID Connect nor by an "
            f"API); define it with `tollhouse apis create --identifier URI --scope "
            f"{undefined[0]}`, then create the client"
        )


async def _introspect_audiences(
    storage: ApiStore, client: Client, values: Sequence[str]
) -> tuple[str, ...]:
    """``--introspect API`` names an API; bare ``--introspect`` means the APIs that own
    the client's ``--scope`` values."""
    apis = await storage.list_apis()
    known = {api.identifier for api in apis}
    chosen: list[str] = []
    for value in values:
        if value != INTROSPECT_OWN_SCOPES:
            if value not in known:
                fail(f"no API {value}; create it with `tollhouse apis create`")
            chosen.append(value)
            continue
        owners = [api.identifier for api in apis if set(api.scopes) & set(client.scopes or ())]
        if not owners:
            usage_error("--introspect without an API needs --scope values that belong to an API")
        chosen.extend(owners)
    return tuple(dict.fromkeys(chosen))
