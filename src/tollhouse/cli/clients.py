"""``tollhouse clients``: register, inspect and remove OAuth clients.

Metadata is printed under the RFC 7591 §2 names (``client_name``, ``redirect_uris``,
``grant_types``, ``scope``, ``token_endpoint_auth_method``). A confidential client's
secret is 256 bits of randomness, printed once — at ``create`` and ``rotate-secret`` —
and stored only as an HMAC-SHA-256 under a master-key subkey (never a bearer secret at
rest; security/client_secrets.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

import click

from tollhouse import randomness
from tollhouse.algorithms import SIGNING_ALGS
from tollhouse.cli.context import echo_json, fail, run, settings_from, state_options, storage_for
from tollhouse.cli.hashing import client_secret_hasher
from tollhouse.cli.output import echo_record, echo_table, iso_utc, note, usage_error
from tollhouse.cli.tokens import revoke_all_of
from tollhouse.clock import SystemClock
from tollhouse.config import MAX_ACCESS_TOKEN_TTL, Settings
from tollhouse.errors import NotFound, OAuthError
from tollhouse.models import AuthMethod, Client, GrantType
from tollhouse.protocol.redirect_uris import check_registrable
from tollhouse.protocol.scopes import check_scope_name
from tollhouse.storage.ports import ApiStore

INTROSPECT_OWN_SCOPES = "*"
CLIENT_ID_BYTES = 16
SECRET_BYTES = 32
MAX_SECRET_OVERLAP = 30 * 24 * 3600
"""``rotate-secret --overlap`` keeps the old secret at most 30 days."""
SECRET_WARNING = (
    "warning: the client secret is shown only once; store it now "
    "(`tollhouse clients rotate-secret` makes a new one)"
)


class ClientMetadata(TypedDict):
    """RFC 7591 §2 metadata of a registered client (never its secret or hash)."""

    client_id: str
    client_name: str
    redirect_uris: list[str]
    grant_types: list[str]
    response_types: list[str]
    scope: str | None
    token_endpoint_auth_method: str
    client_id_issued_at: int
    created_at: str
    introspect_audiences: list[str]
    post_logout_redirect_uris: list[str]
    backchannel_logout_uri: str | None
    id_token_signed_response_alg: str
    subject_type: str
    access_token_ttl: int | None
    refresh_token_ttl: int | None
    refresh_token_absolute_ttl: int | None


def metadata(client: Client) -> ClientMetadata:
    code = GrantType.AUTHORIZATION_CODE in client.grant_types
    return {
        "client_id": client.client_id,
        "client_name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "response_types": ["code"] if code else [],
        "scope": None if client.scopes is None else " ".join(client.scopes),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "client_id_issued_at": client.created_at,
        "created_at": iso_utc(client.created_at),
        "introspect_audiences": list(client.introspect_audiences),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "id_token_signed_response_alg": client.id_token_signed_response_alg or "RS256",
        "subject_type": client.subject_type,
        "access_token_ttl": client.access_token_ttl,
        "refresh_token_ttl": client.refresh_token_ttl,
        "refresh_token_absolute_ttl": client.refresh_token_absolute_ttl,
    }


def _record(meta: ClientMetadata) -> list[tuple[str, str | None]]:
    return [
        ("client_name", meta["client_name"]),
        ("redirect_uris", " ".join(meta["redirect_uris"]) or None),
        ("grant_types", " ".join(meta["grant_types"])),
        ("scope", meta["scope"] if meta["scope"] is not None else "(any scope the server defines)"),
        ("token_endpoint_auth_method", meta["token_endpoint_auth_method"]),
        ("introspects tokens for", " ".join(meta["introspect_audiences"]) or None),
        ("access_token_ttl", _seconds(meta["access_token_ttl"])),
        ("refresh_token_ttl", _seconds(meta["refresh_token_ttl"])),
        ("refresh_token_absolute_ttl", _seconds(meta["refresh_token_absolute_ttl"])),
        ("created_at", meta["created_at"]),
    ]


def _seconds(value: int | None) -> str | None:
    return None if value is None else f"{value} s"


@click.group()
def clients() -> None:
    """OAuth clients: the applications that ask for tokens."""


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


# create ---------------------------------------------------------------------------


def _check_redirect_uris(uris: Sequence[str], grant_types: Sequence[str]) -> tuple[str, ...]:
    """RFC 6749 §3.1.2 / RFC 9700 §4.1.3 rules, as a usage error with the reason."""
    if GrantType.AUTHORIZATION_CODE in grant_types and not uris:
        usage_error("--redirect-uri is required for the authorization_code grant")
    for uri in uris:
        try:
            check_registrable(uri)
        except OAuthError as exc:
            usage_error(f"--redirect-uri: {exc.description}")
    return tuple(dict.fromkeys(uris))


def _check_uris(uris: Sequence[str], option: str) -> tuple[str, ...]:
    """Logout URIs follow the redirect URI rules (https, or http on loopback)."""
    for uri in uris:
        try:
            check_registrable(uri)
        except OAuthError as exc:
            usage_error(f"{option}: {exc.description}")
    return tuple(dict.fromkeys(uris))


def _check_scopes(values: Sequence[str]) -> tuple[str, ...] | None:
    """``--scope "a b"`` (repeatable) → the scope tuple; None when not given."""
    if not values:
        return None
    names = [name for value in values for name in value.split()]
    if not names:
        usage_error("--scope is empty; omit it to allow every scope the server defines")
    for name in names:
        try:
            check_scope_name(name)
        except ValueError as exc:
            usage_error(f"--scope: {exc}")
    return tuple(dict.fromkeys(names))


def _check_grant_types(grant_types: Sequence[str], public: bool) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(grant_types))
    if public and GrantType.CLIENT_CREDENTIALS in chosen:
        usage_error(
            "a public client cannot use client_credentials (it has no secret to "
            "authenticate with, RFC 6749 §4.4); drop --public or the grant type"
        )
    if GrantType.REFRESH_TOKEN in chosen and GrantType.AUTHORIZATION_CODE not in chosen:
        usage_error(
            "refresh_token needs authorization_code as well: refresh tokens are issued "
            "only with an authorization code (RFC 6749 §4.4.3)"
        )
    return chosen


@clients.command("create")
@click.option("--name", required=True, help="Human-readable name (client_name).")
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
    type=click.Choice([grant.value for grant in GrantType]),
    default=[GrantType.AUTHORIZATION_CODE.value],
    show_default=True,
    help="Grant type the client may use (repeatable).",
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
@json_option
@state_options
def create(
    name: str,
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
    as_json: bool,
    data_dir: Path | None,
    database: str | None,
) -> None:
    """Register a client; a confidential one's secret is printed once."""
    if not name.strip():
        usage_error("--name must not be empty")
    if public and introspect:
        usage_error("a public client cannot introspect tokens (it cannot authenticate)")
    chosen = _check_grant_types(grant_types, public)
    uris = _check_redirect_uris(redirect_uris, chosen)
    scopes = _check_scopes(scope_values)
    if backchannel_logout_uri is not None:
        _check_uris((backchannel_logout_uri,), "--backchannel-logout-uri")
    settings = settings_from(data_dir, database)

    secret = None if public else randomness.token(SECRET_BYTES)
    client = Client(
        client_id=randomness.identifier(CLIENT_ID_BYTES),
        name=name,
        redirect_uris=uris,
        grant_types=chosen,
        token_endpoint_auth_method=AuthMethod.NONE if public else AuthMethod.CLIENT_SECRET_BASIC,
        created_at=SystemClock().now(),
        secret_hash=None if secret is None else client_secret_hasher(settings).hash(secret),
        scopes=scopes,
        access_token_ttl=access_token_ttl,
        refresh_token_ttl=refresh_token_ttl,
        refresh_token_absolute_ttl=refresh_token_absolute_ttl,
        post_logout_redirect_uris=_check_uris(
            post_logout_redirect_uris, "--post-logout-redirect-uri"
        ),
        backchannel_logout_uri=backchannel_logout_uri,
        id_token_signed_response_alg=id_token_alg,
        subject_type=subject_type,
    )
    client = run(_add(settings, client, introspect))

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
    echo_record(fields + _record(meta))
    if secret is not None:
        click.echo(SECRET_WARNING)


async def _add(settings: Settings, client: Client, introspect: Sequence[str]) -> Client:
    async with storage_for(settings) as storage:
        if introspect:
            audiences = await _introspect_audiences(storage, client, introspect)
            client = dataclasses.replace(client, introspect_audiences=audiences)
        await storage.add_client(client)
    return client


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


# list / show ------------------------------------------------------------------------


@clients.command("list")
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


@clients.command("show")
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
    echo_record([("client_id", client.client_id), ("type", kind), *_record(meta)])


async def _get(settings: Settings, client_id: str) -> Client:
    async with storage_for(settings) as storage:
        client = await storage.get_client(client_id)
    if client is None:
        raise NotFound(f"no client {client_id}")
    return client


# delete -------------------------------------------------------------------------------


@clients.command("delete")
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


# rotate-secret ---------------------------------------------------------------------


@clients.command("rotate-secret")
@click.argument("client_id")
@click.option(
    "--overlap",
    type=click.IntRange(0, MAX_SECRET_OVERLAP),
    default=0,
    show_default=True,
    metavar="SECONDS",
    help="Keep accepting the previous secret this long, so deployed instances can "
    "switch over (0: running servers stop accepting it within "
    "TOLLHOUSE_CLIENT_CACHE_TTL, 5 s by default).",
)
@json_option
@state_options
def rotate_secret(
    client_id: str, overlap: int, as_json: bool, data_dir: Path | None, database: str | None
) -> None:
    """Give a confidential client a new secret; running servers stop accepting the old
    one within their client cache lifetime (TOLLHOUSE_CLIENT_CACHE_TTL, 5 s), or after
    --overlap seconds."""
    settings = settings_from(data_dir, database)
    secret = randomness.token(SECRET_BYTES)
    now = SystemClock().now()
    until = now + overlap if overlap else None
    error = run(_rotate(settings, client_id, client_secret_hasher(settings).hash(secret), until))
    if error is not None:
        fail(error)
    if as_json:
        output: dict[str, object] = {
            "client_id": client_id,
            "client_secret": secret,
            "client_secret_expires_at": 0,
        }
        if until is not None:
            output["previous_secret_expires_at"] = until
        echo_json(output)
        return
    fields: list[tuple[str, str | None]] = [("client_id", client_id), ("client_secret", secret)]
    if until is not None:
        fields.append(("previous secret valid until", iso_utc(until)))
    echo_record(fields)
    click.echo(SECRET_WARNING)


async def _rotate(
    settings: Settings, client_id: str, secret_hash: str, previous_until: int | None
) -> str | None:
    """None when rotated, else why not (a public client has no secret).

    With an overlap the replaced hash stays valid until ``previous_until``; rotating
    again drops the older one (only one previous secret is kept)."""
    async with storage_for(settings) as storage:
        client = await storage.get_client(client_id)
        if client is None:
            raise NotFound(f"no client {client_id}")
        if client.is_public:
            return (
                f"client {client_id} is public (token_endpoint_auth_method none) "
                "and has no secret to rotate"
            )
        keep = previous_until is not None and client.secret_hash is not None
        if not await storage.set_client_secret(
            client_id,
            secret_hash,
            previous_secret_hash=client.secret_hash if keep else None,
            previous_secret_expires_at=previous_until if keep else None,
        ):
            raise NotFound(f"no client {client_id}")
    return None
