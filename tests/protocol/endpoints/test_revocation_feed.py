from __future__ import annotations

import jwt

from tests.protocol.conftest import ISSUER, SECRET, World
from tests.protocol.tokens_helpers import basic, code_tokens, revoke
from tollhouse.protocol.client_auth import credentials_from
from tollhouse.protocol.endpoints.revocation_feed import SignedFeed


async def read_feed(
    world: World, since: str | None = None, authorization: str | None = None
) -> dict[str, object]:
    result = await world.provider.revocation_feed.handle(
        credentials_from(authorization or basic(), {}), since
    )
    assert isinstance(result, SignedFeed), result
    header = jwt.get_unverified_header(result.jws)
    assert header["typ"] == "revocations+jwt"
    key = next(k for k in world.provider.keyring.jwks()["keys"] if k["kid"] == header["kid"])
    return jwt.decode(
        result.jws, key=jwt.PyJWK(key), algorithms=[header["alg"]], options={"verify_iat": False}
    )


async def test_feed_lists_revoked_jtis_and_a_cursor(world: World) -> None:
    body = await code_tokens(world)
    await revoke(world, str(body["access_token"]))
    feed = await read_feed(world)
    jti = jwt.decode(str(body["access_token"]), options={"verify_signature": False})["jti"]
    assert feed["iss"] == ISSUER
    # Kept for a resource server's leeway past the token's own exp.
    assert {"jti": jti, "exp": world.clock.now() + 900 + 60} in feed["revoked"]  # type: ignore[operator]
    assert isinstance(feed["next"], str)


async def test_feed_is_incremental(world: World) -> None:
    first = await code_tokens(world)
    await revoke(world, str(first["access_token"]))
    cursor = str((await read_feed(world))["next"])
    world.clock.advance(60)  # past the re-read window
    assert (await read_feed(world, cursor))["revoked"] == []
    second = await code_tokens(world)
    await revoke(world, str(second["access_token"]))
    later = await read_feed(world, cursor)
    assert len(later["revoked"]) == 1  # type: ignore[arg-type]
    assert int(str(later["next"])) > int(cursor)


async def test_feed_drops_expired_entries(world: World) -> None:
    body = await code_tokens(world)
    await revoke(world, str(body["access_token"]))
    world.clock.advance(901)
    assert len((await read_feed(world))["revoked"]) == 1  # type: ignore[arg-type]
    world.clock.advance(60)
    assert (await read_feed(world))["revoked"] == []


async def test_feed_refuses_bad_cursors_and_public_clients(world: World) -> None:
    result = await world.provider.revocation_feed.handle(credentials_from(basic(), {}), "-1")
    assert not isinstance(result, SignedFeed) and result.body["error"] == "invalid_request"
    public = await world.provider.revocation_feed.handle(
        credentials_from(None, {"client_id": "spa"}), None
    )
    assert not isinstance(public, SignedFeed) and public.status == 401
    wrong = await world.provider.revocation_feed.handle(
        credentials_from(basic(secret=SECRET + "x"), {}), None
    )
    assert not isinstance(wrong, SignedFeed) and wrong.status == 401
