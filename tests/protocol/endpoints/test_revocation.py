from __future__ import annotations

import jwt

from tests.protocol.conftest import FAST, SECRET, World
from tests.protocol.tokens_helpers import basic, code_tokens, introspect, refresh, revoke
from tollhouse.models import AuthMethod, Client


def jti_of(access_token: object) -> str:
    return str(jwt.decode(str(access_token), options={"verify_signature": False})["jti"])


async def add_other_client(world: World) -> None:
    await world.storage.add_client(
        Client(
            "other",
            "O",
            ("https://o.test/cb",),
            ("authorization_code",),
            AuthMethod.CLIENT_SECRET_BASIC,
            0,
            FAST.hash(SECRET),
        )
    )


async def test_revoking_an_access_token_puts_it_on_the_list(world: World) -> None:
    body = await code_tokens(world)
    result = await revoke(world, str(body["access_token"]))
    assert result.status == 200 and result.body == {}
    assert await world.storage.is_revoked(jti_of(body["access_token"]), world.clock.now())
    assert (await introspect(world, str(body["access_token"]))).body == {"active": False}


async def test_revoking_a_refresh_token_kills_its_family(world: World) -> None:
    body = await code_tokens(world)
    rotated = await refresh(world, str(body["refresh_token"]))
    assert (
        await revoke(world, str(rotated.body["refresh_token"]), token_type_hint="refresh_token")
    ).status == 200
    assert (await refresh(world, str(rotated.body["refresh_token"]))).body[
        "error"
    ] == "invalid_grant"
    for access in (body["access_token"], rotated.body["access_token"]):
        assert (await introspect(world, str(access))).body == {"active": False}


async def test_hint_is_not_trusted(world: World) -> None:
    body = await code_tokens(world)
    await revoke(world, str(body["refresh_token"]), token_type_hint="access_token")
    assert (await refresh(world, str(body["refresh_token"]))).status == 400


async def test_unknown_token_is_200(world: World) -> None:
    assert (await revoke(world, "nothing-like-a-token")).status == 200


async def test_another_clients_token_is_left_alone(world: World) -> None:
    await add_other_client(world)
    body = await code_tokens(world)
    result = await revoke(world, str(body["refresh_token"]), authorization=basic("other"))
    assert result.status == 200
    assert (await refresh(world, str(body["refresh_token"]))).status == 200
    result = await revoke(world, str(body["access_token"]), authorization=basic("other"))
    assert not await world.storage.is_revoked(jti_of(body["access_token"]), world.clock.now())


async def test_revocation_needs_client_authentication(world: World) -> None:
    result = await revoke(world, "x", authorization=basic(secret="wrong"))
    assert result.status == 401 and result.body["error"] == "invalid_client"


async def test_revocation_needs_the_token_parameter(world: World) -> None:
    from tollhouse.protocol.client_auth import credentials_from
    from tollhouse.protocol.requests import TokenRequest

    result = await world.provider.revocation.handle(TokenRequest({}, credentials_from(basic(), {})))
    assert result.body["error"] == "invalid_request"
