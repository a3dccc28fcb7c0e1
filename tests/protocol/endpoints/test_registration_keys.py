"""RFC 7591 registration of clients with keys (``jwks``, ``jwks_uri``) for
private_key_jwt: public signing keys only, https jwks_uri, nothing internal."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

from tests.protocol.conftest import World
from tests.protocol.endpoints.test_registration import BODY, INITIAL, add_initial, raw
from tollhouse.protocol.results import JsonResult


def ec_jwk(private: bool = False) -> dict[str, Any]:
    key = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()), {"kid": "k1"})
    return key.as_dict(private=private)


async def register(world: World, extra: dict[str, Any]) -> JsonResult:
    await add_initial(world)
    body = {**BODY, "token_endpoint_auth_method": "private_key_jwt", **extra}
    return await world.provider.registration.register(raw(body), f"Bearer {INITIAL}")


async def test_a_key_client_gets_no_secret_and_its_keys_back(world: World) -> None:
    jwks = {"keys": [ec_jwk()]}
    result = await register(world, {"jwks": jwks})
    assert result.status == 201, result.body
    assert "client_secret" not in result.body
    assert result.body["token_endpoint_auth_method"] == "private_key_jwt"
    assert result.body["jwks"] == jwks
    stored = await world.storage.get_client(result.body["client_id"])
    assert stored is not None and stored.secret_hash is None and stored.uses_keys


SMALL_ORDER_X = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"  # y = 1, the neutral point


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({}, "jwks or jwks_uri"),
        ({"jwks": {"keys": [ec_jwk(private=True)]}}, "private key members (d)"),
        ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}}, "private key"),
        ({"jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": SMALL_ORDER_X}]}}, "small order"),
        ({"jwks": {"keys": [ec_jwk(), ec_jwk()]}}, "share a kid"),
        ({"jwks": [ec_jwk()]}, "keys array"),
        ({"jwks": {"keys": [ec_jwk()]}, "jwks_uri": "https://rp.test/jwks"}, "not both"),
        ({"jwks_uri": "http://rp.test/jwks"}, "https URL"),
        ({"jwks_uri": "https://127.0.0.1/jwks"}, "must not point at"),
        ({"jwks_uri": "https://10.0.0.1/jwks"}, "must not point at"),
        ({"jwks_uri": "https://169.254.169.254/latest/meta-data/"}, "must not point at"),
    ],
)
async def test_unusable_keys_are_refused(world: World, extra: dict[str, Any], words: str) -> None:
    before = await world.storage.list_clients()
    result = await register(world, extra)
    assert result.status == 400, result.body
    assert result.body["error"] == "invalid_client_metadata"
    assert words in result.body["error_description"]
    assert await world.storage.list_clients() == before
