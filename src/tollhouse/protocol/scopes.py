"""Scope syntax and the choice of audience (RFC 6749 §3.3, RFC 8707 §2)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from tollhouse.errors import InvalidScope, InvalidTarget
from tollhouse.models import Api, Client

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). Matched whole
# (fullmatch): "$" would also match before a final newline, letting "admin\n" through.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
MAX_SCOPES = 64

OPENID = "openid"
OFFLINE_ACCESS = "offline_access"
#: Scopes the IdP itself understands, owned by no API (OpenID Connect Core §5.4, §11).
IDP_SCOPES: frozenset[str] = frozenset({OPENID, "profile", "email", OFFLINE_ACCESS})


def parse(scope: str | None) -> tuple[str, ...]:
    """Split a scope parameter into unique tokens, keeping the order given.

    RFC 6749 §3.3: tokens are separated by spaces (%x20) only; any other whitespace
    is a forbidden character of a token."""
    if scope is None:
        return ()
    tokens = [t for t in scope.split(" ") if t]
    if len(tokens) > MAX_SCOPES:
        raise InvalidScope("Too many scopes were requested.")
    for token in tokens:
        if not _SCOPE_TOKEN.fullmatch(token):
            raise InvalidScope(f"The scope {token!r} contains characters RFC 6749 forbids.")
    return tuple(dict.fromkeys(tokens))


def check_scope_name(name: str) -> str:
    if not _SCOPE_TOKEN.fullmatch(name):
        raise ValueError(f"invalid scope name {name!r}: use printable ASCII without spaces")
    return name


def check_resource(resource: str) -> str:
    """RFC 8707 §2: "its value MUST be an absolute URI ... MUST NOT include a fragment"."""
    parts = urlsplit(resource)
    if not parts.scheme or "#" in resource:
        raise InvalidTarget("The resource parameter must be an absolute URI without fragment.")
    return resource


@dataclass(frozen=True, slots=True)
class Grant:
    """The scopes granted and the audience (API identifier or the issuer) they are for."""

    scopes: tuple[str, ...]
    audience: str


@dataclass(frozen=True, slots=True, eq=False)
class ApiIndex:
    """The registered APIs as requests read them: built once per list of APIs, so a
    request costs lookups in the scopes and resource it names, whatever the number of
    APIs. Compared by identity (``eq=False``): the same index means the same list, and
    comparing contents would walk every API."""

    owner_of: Mapping[str, str]
    """Scope → identifier of the API that defines it (a scope has one owner)."""
    by_identifier: Mapping[str, Api]
    """Identifier → the API (its name and scope descriptions, for consent)."""
    defined: frozenset[str]
    """Every scope a client may be registered with: OpenID Connect's and every API's."""
    listed: tuple[str, ...]
    """Every API's scopes, API by API in the registry's order (discovery's list)."""

    @classmethod
    def of(cls, apis: Iterable[Api]) -> ApiIndex:
        owner_of: dict[str, str] = {}
        by_identifier: dict[str, Api] = {}
        listed: list[str] = []
        for api in apis:
            by_identifier[api.identifier] = api
            listed.extend(api.scopes)
            for scope in api.scopes:
                owner_of[scope] = api.identifier
        return cls(owner_of, by_identifier, IDP_SCOPES | owner_of.keys(), tuple(listed))


def allowed_for_client(
    client: Client, default_client_scopes: Sequence[str] | None
) -> set[str] | None:
    """The scopes a client may ask for; ``None`` means every scope the server defines."""
    if client.scopes is not None:
        return set(client.scopes)
    if default_client_scopes is not None:
        return set(default_client_scopes)
    return None


def resolve(
    requested: Sequence[str],
    resource: str | None,
    apis: ApiIndex | Iterable[Api],
    *,
    client: Client,
    issuer: str,
    default_client_scopes: Sequence[str] | None = None,
) -> Grant:
    """Decide the granted scopes and the token audience.

    The audience is the API named by ``resource``, else the one API that owns the
    requested scopes, else the issuer itself. Scopes of two different APIs in one
    request are refused with ``invalid_target`` (one token, one audience).
    """
    index = apis if isinstance(apis, ApiIndex) else ApiIndex.of(apis)
    owner_of = index.owner_of
    allowed = allowed_for_client(client, default_client_scopes)
    for scope in requested:
        if scope not in owner_of and scope not in IDP_SCOPES:
            raise InvalidScope(f"The scope {scope} is not defined on this server.")
        if allowed is not None and scope not in allowed:
            raise InvalidScope(f"The client is not allowed the scope {scope}.")

    api_scopes = [s for s in requested if s in owner_of]
    if resource is not None:
        target = check_resource(resource)
        if target not in index.by_identifier:
            raise InvalidTarget(f"The resource {target} is not an API known to this server.")
        foreign = [s for s in api_scopes if owner_of[s] != target]
        if foreign:
            raise InvalidScope(f"The scope {foreign[0]} does not belong to the resource {target}.")
        return Grant(tuple(requested), target)
    owners = {owner_of[s] for s in api_scopes}
    if len(owners) > 1:
        raise InvalidTarget(
            "The requested scopes belong to different APIs; request one API at a time "
            "(use the resource parameter)."
        )
    audience = owners.pop() if owners else issuer
    return Grant(tuple(requested), audience)
