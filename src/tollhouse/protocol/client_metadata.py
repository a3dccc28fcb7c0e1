"""Client metadata rules for dynamic registration (RFC 7591 §2, OIDC Registration §2).

:func:`validate` turns a registration request's JSON object into the
:class:`ClientMetadata` Tollhouse stores, or raises ``invalid_redirect_uri`` /
``invalid_client_metadata`` (RFC 7591 §3.2.2) naming the field and the rule.

RFC 7591 §2: "The authorization server MUST ignore any client metadata sent by the
client that it does not understand" — unknown fields are dropped, and so are the
informational ones Tollhouse does not keep (``client_uri``, ``logo_uri``, ``contacts``,
``tos_uri``, ``policy_uri``, ``software_id``, ``software_version``,
``software_statement``). The keys (``jwks``, ``jwks_uri``) and the request rules of
RFC 9126 / RFC 9101 are checked in protocol/client_key_metadata.py. The response lists only what was
registered, as RFC 7591 §3.2.1 asks, so a client sees what was kept. URLs the server
fetches are checked apart, asynchronously (protocol/fetched_urls.py).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tollhouse.algorithms import SIGNING_ALGS
from tollhouse.errors import (
    InvalidClientMetadata,
    InvalidRedirectUriMetadata,
    InvalidRequest,
    InvalidScope,
    OAuthError,
)
from tollhouse.models import Api, AuthMethod, GrantType
from tollhouse.protocol import scopes as scope_rules
from tollhouse.protocol.client_key_metadata import KeyMetadata, key_metadata
from tollhouse.protocol.cors import is_origin
from tollhouse.protocol.redirect_uris import check_registrable

MAX_URIS = 32
MAX_NAME_LENGTH = 200
GRANT_TYPES = tuple(grant.value for grant in GrantType)
USER_GRANTS = frozenset({GrantType.AUTHORIZATION_CODE.value, GrantType.DEVICE_CODE.value})
"""The grants a person authorizes: the only ones that come with refresh tokens."""
RESPONSE_TYPES = ("code",)
AUTH_METHODS = tuple(method.value for method in AuthMethod)
SUBJECT_TYPES = ("public", "pairwise")
UNSUPPORTED = {
    "sector_identifier_uri": "sector_identifier_uri is not supported; register redirect "
    "URIs on one host for pairwise subjects.",
    "request_uris": "Request objects are not supported (request_uris).",
    "token_endpoint_auth_signing_alg": "token_endpoint_auth_signing_alg is not supported: "
    "an assertion may be signed with any registered key, each used with its own alg.",
}
"""Metadata that would change behaviour if it were silently ignored: refused."""


@dataclass(frozen=True, slots=True)
class ClientMetadata:
    """The validated metadata of one client, as stored."""

    client_name: str | None
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    response_types: tuple[str, ...]
    token_endpoint_auth_method: str
    scopes: tuple[str, ...] | None
    """None: the client may request every scope the server defines."""
    post_logout_redirect_uris: tuple[str, ...] = ()
    backchannel_logout_uri: str | None = None
    id_token_signed_response_alg: str | None = None
    subject_type: str = "public"
    allowed_cors_origins: tuple[str, ...] = ()
    """Browser origins beyond the redirect URIs' (protocol/cors.py)."""
    keys: KeyMetadata = field(default_factory=KeyMetadata)
    dpop_bound_access_tokens: bool = False
    """RFC 9449 §5.2: every token request of this client must carry a DPoP proof."""

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == AuthMethod.NONE

    @property
    def has_secret(self) -> bool:
        return self.token_endpoint_auth_method in (
            AuthMethod.CLIENT_SECRET_BASIC,
            AuthMethod.CLIENT_SECRET_POST,
        )


def parse_body(raw: bytes) -> dict[str, Any]:
    """RFC 7591 §3.1: the request body is a JSON object (whatever Content-Type says)."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidRequest("The request body must be a JSON object (RFC 7591).") from None
    if not isinstance(value, dict):
        raise InvalidRequest("The request body must be a JSON object (RFC 7591).")
    return value


def defined_scopes(apis: Iterable[Api]) -> frozenset[str]:
    """The scopes a client may be registered with: OpenID Connect's and every API's."""
    return scope_rules.ApiIndex.of(apis).defined


def undefined_scopes(requested: Iterable[str], defined: Collection[str]) -> list[str]:
    """The requested scopes nothing defines, in the order given: a client registered
    with one would meet ``invalid_scope`` at every token request that asks for it."""
    return [scope for scope in requested if scope not in defined]


def _named(scopes: Sequence[str]) -> str:
    return f"The scope {scopes[0]} is" if len(scopes) == 1 else f"The scopes {' '.join(scopes)} are"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def validate(
    body: Mapping[str, Any],
    *,
    server_scopes: Collection[str],
    default_client_scopes: Sequence[str] | None = None,
) -> ClientMetadata:
    """Check every metadata field Tollhouse understands; ignore the rest."""
    for name, reason in UNSUPPORTED.items():
        if _given(body, name):
            raise InvalidClientMetadata(reason)
    method = _auth_method(body)
    grant_types, response_types = _grant_and_response_types(body)
    if method == AuthMethod.NONE and GrantType.CLIENT_CREDENTIALS in grant_types:
        raise InvalidClientMetadata(
            "A client with token_endpoint_auth_method none cannot use client_credentials "
            "(it has no credentials to authenticate with, RFC 6749 section 4.4)."
        )
    redirect_uris = _redirect_uris(body)
    if GrantType.AUTHORIZATION_CODE in grant_types and not redirect_uris:
        raise InvalidRedirectUriMetadata(
            "redirect_uris is required for the authorization_code grant (RFC 7591 section 2)."
        )
    subject_type = _choice(body, "subject_type", SUBJECT_TYPES) or "public"
    if subject_type == "pairwise" and len({urlsplit(u).hostname for u in redirect_uris}) > 1:
        raise InvalidClientMetadata(
            "A pairwise client must register redirect_uris on a single host "
            "(OpenID Connect Core section 8.1; sector_identifier_uri is not supported)."
        )
    backchannel = _string(body, "backchannel_logout_uri")
    if backchannel is not None:
        _uri(backchannel, "backchannel_logout_uri")
    return ClientMetadata(
        client_name=_client_name(body),
        redirect_uris=redirect_uris,
        grant_types=grant_types,
        response_types=response_types,
        token_endpoint_auth_method=method,
        scopes=_scopes(body, server_scopes, default_client_scopes),
        post_logout_redirect_uris=tuple(
            _uri(uri, "post_logout_redirect_uris")
            for uri in _strings(body, "post_logout_redirect_uris") or ()
        ),
        backchannel_logout_uri=backchannel,
        id_token_signed_response_alg=_choice(body, "id_token_signed_response_alg", SIGNING_ALGS),
        subject_type=subject_type,
        allowed_cors_origins=cors_origins(_strings(body, "allowed_cors_origins") or ()),
        keys=key_metadata(body, method),
        dpop_bound_access_tokens=_flag(body, "dpop_bound_access_tokens"),
    )


def cors_origins(values: Iterable[str]) -> tuple[str, ...]:
    """Each an origin as a browser sends it (``https://app.example``, ``http://127.0.0.1:9002``):
    scheme, host and port only."""
    origins = tuple(values)
    for origin in origins:
        if not is_origin(origin):
            raise InvalidClientMetadata(
                f"allowed_cors_origins entries must be origins such as https://app.example "
                f"(scheme, host and optional port; no path): {origin[:100]!r}"
            )
    return origins


def _given(body: Mapping[str, Any], name: str) -> bool:
    """JSON ``null`` counts as omitted (RFC 7592 §2.2 treats omitted fields as null)."""
    return body.get(name) is not None


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise InvalidClientMetadata(f"{name} must be true or false.")
    return value


def _string(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidClientMetadata(f"{name} must be a string.")
    return value


def _strings(body: Mapping[str, Any], name: str) -> tuple[str, ...] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidClientMetadata(f"{name} must be an array of strings.")
    if len(value) > MAX_URIS:
        raise InvalidClientMetadata(f"{name} may list at most {MAX_URIS} values.")
    return tuple(dict.fromkeys(value))


def _choice(body: Mapping[str, Any], name: str, allowed: Sequence[str]) -> str | None:
    value = _string(body, name)
    if value is not None and value not in allowed:
        raise InvalidClientMetadata(
            f"{name} {value!r} is not supported; use one of: {', '.join(allowed)}."
        )
    return value


def _auth_method(body: Mapping[str, Any]) -> str:
    """RFC 7591 §2: "If unspecified or omitted, the default is client_secret_basic"."""
    return _choice(body, "token_endpoint_auth_method", AUTH_METHODS) or (
        AuthMethod.CLIENT_SECRET_BASIC.value
    )


def _grant_and_response_types(body: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """RFC 7591 §2.1: the two lists must agree — ``authorization_code`` with ``code``.

    Omitted, each defaults to what the other implies (both omitted: the code flow).
    """
    grants = _strings(body, "grant_types")
    responses = _strings(body, "response_types")
    for grant in grants or ():
        if grant not in GRANT_TYPES:
            raise InvalidClientMetadata(
                f"grant_type {grant!r} is not supported; use {', '.join(GRANT_TYPES)}."
            )
    for response in responses or ():
        if response not in RESPONSE_TYPES:
            raise InvalidClientMetadata(
                f"response_type {response!r} is not supported; only code (RFC 9700 section "
                "2.1.2 rules out the implicit flow)."
            )
    if grants is None:
        grants = (GrantType.AUTHORIZATION_CODE.value,) if responses != () else ()
    if responses is None:
        responses = ("code",) if GrantType.AUTHORIZATION_CODE in grants else ()
    if not grants:
        raise InvalidClientMetadata("grant_types must name at least one grant type.")
    # RFC 7591 §2.1: "the authorization server MUST ensure [grant_types and
    # response_types] are consistent".
    if (GrantType.AUTHORIZATION_CODE in grants) != ("code" in responses):
        raise InvalidClientMetadata(
            "grant_types and response_types are inconsistent: authorization_code goes "
            "with the response type code and vice versa (RFC 7591 section 2.1)."
        )
    if GrantType.REFRESH_TOKEN in grants and not USER_GRANTS & set(grants):
        raise InvalidClientMetadata(
            "refresh_token needs authorization_code or the device_code grant as well: "
            "refresh tokens are issued only with a user's authorization here."
        )
    return grants, responses


def _redirect_uris(body: Mapping[str, Any]) -> tuple[str, ...]:
    value = body.get("redirect_uris")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidRedirectUriMetadata("redirect_uris must be an array of strings.")
    if len(value) > MAX_URIS:
        raise InvalidRedirectUriMetadata(f"redirect_uris may list at most {MAX_URIS} URIs.")
    # RFC 6749 §3.1.2 and RFC 9700 §4.1.3 through check_registrable: absolute, https or
    # loopback http, no fragment, no credentials; raises invalid_redirect_uri.
    return tuple(dict.fromkeys(check_registrable(uri) for uri in value))


def _uri(uri: str, name: str) -> str:
    """Logout URIs follow the redirect URI rules, reported as invalid_client_metadata."""
    try:
        return check_registrable(uri)
    except OAuthError as error:
        raise InvalidClientMetadata(f"{name}: {error.description}") from None


def _client_name(body: Mapping[str, Any]) -> str | None:
    name = _string(body, "client_name")
    if name is None:
        return None
    name = name.strip()
    if not name:
        return None
    if len(name) > MAX_NAME_LENGTH or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise InvalidClientMetadata(
            f"client_name must be at most {MAX_NAME_LENGTH} characters without control characters."
        )
    return name


def _scopes(
    body: Mapping[str, Any],
    server_scopes: Collection[str],
    default_client_scopes: Sequence[str] | None,
) -> tuple[str, ...] | None:
    """RFC 7591 §2 ``scope``: space-separated values the server defines.

    Omitted: every scope the server defines (or ``TOLLHOUSE_DEFAULT_CLIENT_SCOPES``,
    applied when the client asks for a token). When that setting narrows the scopes,
    a registered ``scope`` must stay within it, so self-registration cannot widen it.
    """
    text = _string(body, "scope")
    if text is None:
        return None
    try:
        requested = scope_rules.parse(text)
    except InvalidScope as error:
        raise InvalidClientMetadata(f"scope: {error.description}") from None
    if not requested:
        raise InvalidClientMetadata("scope is empty; omit it to allow every scope.")
    undefined = undefined_scopes(requested, server_scopes)
    if undefined:
        raise InvalidClientMetadata(
            f"{_named(undefined)} not defined on this server: neither OpenID Connect nor "
            "any API defines it; an operator defines API scopes with `tollhouse apis create`."
        )
    for scope in requested:
        if default_client_scopes is not None and scope not in default_client_scopes:
            raise InvalidClientMetadata(
                f"The scope {scope} is not available to dynamically registered clients."
            )
    return requested
