"""What ``tollhouse clients`` prints about a client: RFC 7591 §2 metadata, never its
secret or the secret's digest."""

from __future__ import annotations

import json
from typing import Any, TypedDict

import click

from tollhouse.cli.output import iso_utc
from tollhouse.models import Client, GrantType

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")

THIRD_PARTY = "a third party, over open registration (`tollhouse clients trust` vouches for it)"


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
    allowed_cors_origins: list[str]
    self_registered: bool
    """Registered over HTTP with no operator involved (open registration)."""
    jwks: dict[str, Any] | None
    jwks_uri: str | None
    require_pushed_authorization_requests: bool
    require_signed_request_object: bool
    dpop_bound_access_tokens: bool
    require_mfa: bool
    require_passkey: bool
    tls_client_auth: str | None
    """RFC 8705 §2.1.2: ``<kind> <name>``, e.g. ``subject_dn CN=billing``."""


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
        "allowed_cors_origins": list(client.allowed_cors_origins),
        "self_registered": client.self_registered,
        "jwks": None if client.jwks is None else json.loads(client.jwks),
        "jwks_uri": client.jwks_uri,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "require_signed_request_object": client.require_signed_request_object,
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "require_mfa": client.require_mfa,
        "require_passkey": client.require_passkey,
        "tls_client_auth": None
        if client.tls_client_auth_kind is None
        else f"{client.tls_client_auth_kind} {client.tls_client_auth_name}",
    }


def record_fields(meta: ClientMetadata) -> list[tuple[str, str | None]]:
    """The human-readable lines of ``show`` and ``create`` after the client id."""
    return [
        ("client_name", meta["client_name"]),
        ("redirect_uris", " ".join(meta["redirect_uris"]) or None),
        ("grant_types", " ".join(meta["grant_types"])),
        ("scope", meta["scope"] if meta["scope"] is not None else "(any scope the server defines)"),
        ("token_endpoint_auth_method", meta["token_endpoint_auth_method"]),
        ("jwks", _key_ids(meta["jwks"])),
        ("jwks_uri", meta["jwks_uri"]),
        (
            "require_pushed_authorization_requests",
            _yes(meta["require_pushed_authorization_requests"]),
        ),
        ("require_signed_request_object", _yes(meta["require_signed_request_object"])),
        ("introspects tokens for", " ".join(meta["introspect_audiences"]) or None),
        ("access_token_ttl", _seconds(meta["access_token_ttl"])),
        ("refresh_token_ttl", _seconds(meta["refresh_token_ttl"])),
        ("refresh_token_absolute_ttl", _seconds(meta["refresh_token_absolute_ttl"])),
        ("created_at", meta["created_at"]),
        ("registered by", THIRD_PARTY if meta["self_registered"] else None),
        ("dpop_bound_access_tokens", "true" if meta["dpop_bound_access_tokens"] else None),
        ("second factor", _factor(meta)),
        ("tls_client_auth name", meta["tls_client_auth"]),
    ]


def _factor(meta: ClientMetadata) -> str | None:
    if meta["require_passkey"]:
        return "passkey required"
    return "required" if meta["require_mfa"] else None


def _key_ids(jwks: dict[str, Any] | None) -> str | None:
    if jwks is None:
        return None
    keys = jwks.get("keys", [])
    return f"{len(keys)} key(s): " + " ".join(str(key.get("kid", "-")) for key in keys)


def _yes(value: bool) -> str | None:
    return "yes" if value else None


def _seconds(value: int | None) -> str | None:
    return None if value is None else f"{value} s"
