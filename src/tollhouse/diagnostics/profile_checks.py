"""Clients that would break the FAPI 2.0 profile (``TOLLHOUSE_PROFILE=fapi2``): they
still load, and every request of theirs is refused naming the rule (protocol/profile.py),
so the operator should hear of them before their users do."""

from __future__ import annotations

import json
from collections.abc import Sequence

from tollhouse.algorithms import FAPI2_CLIENT_ALGS
from tollhouse.diagnostics.findings import Finding, ok, warning
from tollhouse.models import Client

CHECK = "fapi2_profile"


def check_fapi2_clients(profile: str, clients: Sequence[Client]) -> list[Finding]:
    if profile != "fapi2":
        return []
    found = [
        warning(CHECK, f"client {client.client_id}: {problem}", fix)
        for client in clients
        for problem, fix in _problems(client)
    ]
    return found or [ok(CHECK, f"all {len(clients)} clients conform to the FAPI 2.0 profile")]


def _problems(client: Client) -> list[tuple[str, str]]:
    if client.uses_certificate:
        return []  # RFC 8705 §2 mutual TLS: accepted by FAPI 2.0 §5.3.2.1
    if not client.uses_keys:
        return [
            (
                f"authenticates with {client.token_endpoint_auth_method}; FAPI 2.0 requires "
                "private_key_jwt or mutual TLS",
                f"`tollhouse clients update {client.client_id} --auth-method private_key_jwt "
                "--jwks-file F`",
            )
        ]
    if client.jwks is None:
        return []  # keys at a jwks_uri: their algorithms are seen only when fetched
    algs = {key.get("alg") for key in json.loads(client.jwks).get("keys", [])}
    if algs and algs <= {"RS256"}:
        return [
            (
                "has only RS256 keys; FAPI 2.0 accepts " + ", ".join(FAPI2_CLIENT_ALGS),
                f"register an ES256, EdDSA or PS256 key (`tollhouse clients update "
                f"{client.client_id} --jwks-file F`)",
            )
        ]
    return []
