"""Registered clients and users: redirect URIs still registrable under today's rules
(RFC 6749 §3.1.2, RFC 9700 §4.1.3, RFC 8252 §8.3), scopes that are still defined, and
the demo data of ``--seed-demo``.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from tollhouse.diagnostics.findings import Finding, error, ok, warning
from tollhouse.errors import InvalidRedirectUriMetadata
from tollhouse.hosts import is_loopback
from tollhouse.models import Api, Client, GrantType, User
from tollhouse.protocol.client_metadata import defined_scopes, undefined_scopes
from tollhouse.protocol.redirect_uris import check_registrable

CHECK = "redirect_uris"
SCOPES_CHECK = "scopes"
DEMO_CLIENT_ID = "grid-monitor"
DEMO_USERNAME = "operator"


def check_redirect_uris(clients: Sequence[Client]) -> list[Finding]:
    """Each redirect URI that would be refused today; plain http off loopback is an error
    (codes would cross the network in clear, RFC 9700 §4.1.1)."""
    found: list[Finding] = []
    uris = 0
    for client in clients:
        if GrantType.AUTHORIZATION_CODE in client.grant_types and not client.redirect_uris:
            found.append(
                warning(
                    CHECK,
                    f"client {client.client_id} may use the code flow but has no redirect URI",
                    f"recreate it with --redirect-uri, or drop the grant "
                    f"(`tollhouse clients show {client.client_id}`)",
                )
            )
        for uri in client.redirect_uris:
            uris += 1
            problem = _problem(client.client_id, uri)
            if problem is not None:
                found.append(problem)
    if not found:
        found.append(ok(CHECK, f"{uris} redirect URIs of {len(clients)} clients are registrable"))
    return found


def _problem(client_id: str, uri: str) -> Finding | None:
    try:
        check_registrable(uri)
    except InvalidRedirectUriMetadata as exc:
        reason = exc.description
    else:
        return None
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
    except ValueError:
        parts, host = None, ""
    if parts is not None and parts.scheme == "http" and not is_loopback(host):
        return error(
            CHECK,
            f"client {client_id}: {uri} is plain http on a non-loopback host; codes and "
            "tokens would cross the network unencrypted",
            "register the https URI instead and delete this client "
            f"(`tollhouse clients delete {client_id}`)",
        )
    return warning(
        CHECK,
        f"client {client_id}: {uri} would be refused today: {reason}",
        "register a conforming URI (https, or http://127.0.0.1 / http://[::1] for native apps)",
    )


def check_client_scopes(clients: Sequence[Client], apis: Sequence[Api]) -> list[Finding]:
    """Clients registered with a scope that no API (nor OpenID Connect) defines any more,
    e.g. after ``tollhouse apis delete``: their requests for it fail with invalid_scope
    (RFC 6749 §5.2)."""
    defined = defined_scopes(apis)
    found: list[Finding] = []
    for client in clients:
        missing = undefined_scopes(client.scopes or (), defined)
        if missing:
            names = " ".join(missing)
            found.append(
                warning(
                    SCOPES_CHECK,
                    f"client {client.client_id} is registered with {names}, which no API "
                    "defines: its token requests for it fail with invalid_scope",
                    f"define it again with `tollhouse apis create --identifier URI --scope "
                    f"{missing[0]}`, or recreate the client without it",
                )
            )
    if not found:
        found.append(ok(SCOPES_CHECK, f"every scope of the {len(clients)} clients is defined"))
    return found


def check_demo_data(clients: Sequence[Client], users: Sequence[User]) -> list[Finding]:
    """The ``--seed-demo`` client and user, whose credentials sit in clear in demo.json."""
    present = [f"client {c.client_id}" for c in clients if c.client_id == DEMO_CLIENT_ID]
    present += [f"user {u.username}" for u in users if u.username == DEMO_USERNAME]
    if not present:
        return []
    return [
        warning(
            "config",
            f"demo data present ({', '.join(present)}); its credentials are in "
            "<data-dir>/demo.json",
            f"outside a try-out, `tollhouse clients delete {DEMO_CLIENT_ID}` and "
            f"`tollhouse users delete {DEMO_USERNAME}`",
        )
    ]
