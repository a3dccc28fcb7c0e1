from __future__ import annotations

import pytest

from tests.protocol.conftest import FAST, ISSUER, SECRET, World
from tests.protocol.tokens_helpers import basic, code_tokens, introspect, refresh
from tollhouse.clock import FrozenClock
from tollhouse.models import AuthMethod, Client, RefreshToken
from tollhouse.protocol.refresh_tokens import RefreshTokenIssuer, could_be_issued


async def test_active_access_token_shows_its_claims(world: World) -> None:
    body = await code_tokens(world)
    result = await introspect(world, str(body["access_token"]))
    assert result.status == 200
    assert result.headers["Cache-Control"] == "no-store"
    claims = result.body
    assert claims["active"] is True
    assert claims["client_id"] == "web" and claims["sub"] == "alice-id"
    assert claims["iss"] == ISSUER and claims["aud"] == "https://sensors.test"
    assert claims["scope"] == "read_sensors write_sensors"
    assert claims["token_type"] == "Bearer" and claims["username"] == "alice"
    assert {"exp", "iat", "jti"} <= set(claims)


async def test_expired_access_token_is_inactive(world: World) -> None:
    body = await code_tokens(world)
    world.clock.advance(901)
    assert (await introspect(world, str(body["access_token"]))).body == {"active": False}


async def test_garbage_is_inactive(world: World) -> None:
    for value in ("garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "x" * 20000):
        assert (await introspect(world, value)).body == {"active": False}


async def test_tampered_access_token_is_inactive(world: World) -> None:
    body = await code_tokens(world)
    head, payload, signature = str(body["access_token"]).split(".")
    tampered = f"{head}.{payload[:-2]}AA.{signature}"
    assert (await introspect(world, tampered)).body == {"active": False}


async def test_refresh_token_introspection(world: World) -> None:
    body = await code_tokens(world)
    active = await introspect(world, str(body["refresh_token"]), token_type_hint="refresh_token")
    assert active.body["active"] is True and active.body["token_type"] == "refresh_token"
    await refresh(world, str(body["refresh_token"]))
    assert (await introspect(world, str(body["refresh_token"]))).body == {"active": False}


async def test_other_clients_cannot_introspect(world: World) -> None:
    await world.storage.add_client(
        Client(
            "other",
            "O",
            (),
            ("client_credentials",),
            AuthMethod.CLIENT_SECRET_BASIC,
            0,
            FAST.hash(SECRET),
        )
    )
    body = await code_tokens(world)
    for value in (body["access_token"], body["refresh_token"]):
        assert (await introspect(world, str(value), authorization=basic("other"))).body == {
            "active": False
        }


async def test_resource_server_may_introspect_tokens_for_its_api(world: World) -> None:
    await world.storage.add_client(
        Client(
            "rs",
            "Sensors API",
            (),
            ("client_credentials",),
            AuthMethod.CLIENT_SECRET_BASIC,
            0,
            FAST.hash(SECRET),
            introspect_audiences=("https://sensors.test",),
        )
    )
    body = await code_tokens(world)
    result = await introspect(world, str(body["access_token"]), authorization=basic("rs"))
    assert result.body["active"] is True
    # ...but not the client's refresh token.
    result = await introspect(world, str(body["refresh_token"]), authorization=basic("rs"))
    assert result.body == {"active": False}


async def test_public_client_cannot_introspect(world: World) -> None:
    from tollhouse.protocol.client_auth import credentials_from
    from tollhouse.protocol.requests import TokenRequest

    params = {"token": "x", "client_id": "spa"}
    result = await world.provider.introspection.handle(
        TokenRequest(params, credentials_from(None, params))
    )
    assert result.status == 401


async def test_code_reuse_makes_issued_tokens_inactive(world: World) -> None:
    from tests.protocol.conftest import CALLBACK
    from tests.protocol.tokens_helpers import VERIFIER, get_code, token

    code = await get_code(world)
    first = await token(
        world,
        grant_type="authorization_code",
        code=code,
        redirect_uri=CALLBACK,
        code_verifier=VERIFIER,
    )
    assert (await introspect(world, str(first.body["access_token"]))).body["active"] is True
    again = await token(
        world,
        grant_type="authorization_code",
        code=code,
        redirect_uri=CALLBACK,
        code_verifier=VERIFIER,
    )
    assert again.body["error"] == "invalid_grant"
    assert (await introspect(world, str(first.body["access_token"]))).body == {"active": False}
    assert (await refresh(world, str(first.body["refresh_token"]))).body["error"] == "invalid_grant"


async def test_a_token_no_refresh_token_looks_like_is_refused_without_a_store_read(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JWT (ours expired, or another issuer's) or garbage cannot be a refresh token
    of ours: the answer is the same inactive one, without asking the store."""
    reads: list[str] = []
    read = world.storage.get_refresh_token

    async def counted(token_hash: str) -> RefreshToken | None:
        reads.append(token_hash)
        return await read(token_hash)

    monkeypatch.setattr(world.storage, "get_refresh_token", counted)
    body = await code_tokens(world)
    issued = str(body["refresh_token"])
    assert could_be_issued(issued)
    world.clock.advance(901)  # the access token expired: a JWT no longer ours to accept
    others = (str(body["access_token"]), "garbage", "a.b.c", issued[:-1], issued + "A")
    for value in others:
        for hint in ("access_token", "refresh_token"):
            assert (await introspect(world, value, token_type_hint=hint)).body == {"active": False}
    assert reads == []
    found = await introspect(world, issued, token_type_hint="refresh_token")
    assert found.body["active"] is True and len(reads) == 1


def test_every_refresh_token_issued_has_the_shape_looked_up() -> None:
    """The shape check may only skip values the issuer never makes."""
    issuer = RefreshTokenIssuer(FrozenClock(), 3600, 86400)
    client = Client("c", "C", (), (), AuthMethod.NONE, 0)
    family = issuer.new_family(client, subject="alice")
    for _ in range(500):
        issued = issuer.build(client, family, scopes=(), audience="", auth_time=None)
        assert could_be_issued(issued.value)
