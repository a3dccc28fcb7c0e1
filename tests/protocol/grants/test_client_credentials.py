from __future__ import annotations

import jwt

from tests.protocol.conftest import ISSUER, World
from tests.protocol.tokens_helpers import basic, token


async def test_client_credentials_token_has_the_client_as_subject(world: World) -> None:
    result = await token(world, basic("m2m"), grant_type="client_credentials", scope="read_sensors")
    assert result.status == 200, result.body
    assert "refresh_token" not in result.body
    claims = jwt.decode(str(result.body["access_token"]), options={"verify_signature": False})
    assert claims["sub"] == "m2m" and claims["client_id"] == "m2m"
    assert claims["aud"] == "https://sensors.test"
    assert "auth_time" not in claims


async def test_client_credentials_without_scope_is_for_the_issuer(world: World) -> None:
    result = await token(world, basic("m2m"), grant_type="client_credentials")
    claims = jwt.decode(str(result.body["access_token"]), options={"verify_signature": False})
    assert claims["aud"] == ISSUER


async def test_client_credentials_with_resource(world: World) -> None:
    result = await token(
        world, basic("m2m"), grant_type="client_credentials", resource="https://sensors.test"
    )
    assert result.status == 200


async def test_client_credentials_needs_the_grant(world: World) -> None:
    result = await token(world, basic("web"), grant_type="client_credentials")
    assert result.body["error"] == "unauthorized_client"


async def test_public_client_cannot_use_client_credentials(world: World) -> None:
    from tollhouse.protocol.client_auth import credentials_from
    from tollhouse.protocol.requests import TokenRequest

    params = {"grant_type": "client_credentials", "client_id": "spa"}
    result = await world.provider.token.handle(TokenRequest(params, credentials_from(None, params)))
    assert result.body["error"] == "unauthorized_client"


async def test_client_credentials_unknown_scope(world: World) -> None:
    result = await token(world, basic("m2m"), grant_type="client_credentials", scope="nope")
    assert result.body["error"] == "invalid_scope"
