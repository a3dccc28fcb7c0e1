"""``tollhouse doctor`` under TOLLHOUSE_PROFILE=fapi2: clients that would be refused."""

from __future__ import annotations

import json

from tollhouse.diagnostics.profile_checks import check_fapi2_clients
from tollhouse.models import AuthMethod, Client, GrantType


def client(client_id: str, method: str, jwks: object | None = None) -> Client:
    return Client(
        client_id=client_id,
        name=client_id,
        redirect_uris=(),
        grant_types=(GrantType.CLIENT_CREDENTIALS,),
        token_endpoint_auth_method=method,
        created_at=0,
        jwks=None if jwks is None else json.dumps(jwks),
    )


def test_secret_and_rs256_only_clients_are_named() -> None:
    clients = [
        client("secret", AuthMethod.CLIENT_SECRET_BASIC),
        client("rsa", AuthMethod.PRIVATE_KEY_JWT, {"keys": [{"kty": "RSA", "alg": "RS256"}]}),
        client("good", AuthMethod.PRIVATE_KEY_JWT, {"keys": [{"kty": "EC", "alg": "ES256"}]}),
        client("mtls", AuthMethod.TLS_CLIENT_AUTH),
        client("selfsigned", AuthMethod.SELF_SIGNED_TLS_CLIENT_AUTH, {"keys": [{"kty": "RSA"}]}),
    ]
    found = check_fapi2_clients("fapi2", clients)
    messages = " ".join(finding.what for finding in found)
    assert "client secret: authenticates with client_secret_basic" in messages
    assert "client rsa: has only RS256 keys" in messages
    assert "good" not in messages
    assert "mtls" not in messages and "selfsigned" not in messages  # RFC 8705 §2


def test_nothing_is_checked_without_the_profile() -> None:
    assert check_fapi2_clients("none", [client("secret", AuthMethod.NONE)]) == []
