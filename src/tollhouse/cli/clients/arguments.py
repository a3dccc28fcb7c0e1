"""The rules ``clients create`` holds its options to, each refused as a usage error
naming the option and the reason, before any state is touched."""

from __future__ import annotations

from collections.abc import Sequence

from tollhouse.cli.output import usage_error
from tollhouse.errors import OAuthError
from tollhouse.models import GrantType
from tollhouse.protocol.redirect_uris import check_registrable
from tollhouse.protocol.scopes import check_scope_name


def check_redirect_uris(uris: Sequence[str], grant_types: Sequence[str]) -> tuple[str, ...]:
    """RFC 6749 §3.1.2 / RFC 9700 §4.1.3 rules, as a usage error with the reason."""
    if GrantType.AUTHORIZATION_CODE in grant_types and not uris:
        usage_error("--redirect-uri is required for the authorization_code grant")
    return check_uris(uris, "--redirect-uri")


def check_uris(uris: Sequence[str], option: str) -> tuple[str, ...]:
    """Redirect and logout URIs: https, or http on loopback; duplicates dropped."""
    for uri in uris:
        try:
            check_registrable(uri)
        except OAuthError as exc:
            usage_error(f"{option}: {exc.description}")
    return tuple(dict.fromkeys(uris))


def check_scopes(values: Sequence[str]) -> tuple[str, ...] | None:
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


GRANT_ALIASES = {"device_code": GrantType.DEVICE_CODE.value}
"""Short names ``--grant-type`` accepts for the URN-named grants."""
GRANT_CHOICES = [*(grant.value for grant in GrantType), *GRANT_ALIASES]


def check_grant_types(grant_types: Sequence[str], public: bool) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(GRANT_ALIASES.get(g, g) for g in grant_types))
    if public and GrantType.CLIENT_CREDENTIALS in chosen:
        usage_error(
            "a public client cannot use client_credentials (it has no secret to "
            "authenticate with, RFC 6749 §4.4); drop --public or the grant type"
        )
    user_grants = {GrantType.AUTHORIZATION_CODE.value, GrantType.DEVICE_CODE.value}
    if GrantType.REFRESH_TOKEN in chosen and not user_grants & set(chosen):
        usage_error(
            "refresh_token needs authorization_code or device_code as well: refresh "
            "tokens are issued only with a user's authorization (RFC 6749 §4.4.3)"
        )
    return chosen
