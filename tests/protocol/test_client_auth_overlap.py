"""``clients rotate-secret --overlap``: the previous secret works until its expiry."""

from __future__ import annotations

from tests.protocol.conftest import SECRET, World
from tests.protocol.tokens_helpers import basic, token

NEW = "new-secret-" + "n" * 32


async def rotate(world: World, overlap: int | None) -> None:
    client = await world.storage.get_client("m2m")
    assert client is not None
    await world.storage.set_client_secret(
        "m2m",
        world.provider.client_secrets.hasher.hash(NEW),
        previous_secret_hash=client.secret_hash if overlap else None,
        previous_secret_expires_at=world.clock.now() + overlap if overlap else None,
    )


async def status_with(world: World, secret: str) -> int:
    result = await token(world, basic("m2m", secret), grant_type="client_credentials")
    return result.status


async def test_previous_secret_is_accepted_during_the_overlap_window(world: World) -> None:
    await rotate(world, 60)
    assert await status_with(world, NEW) == 200
    assert await status_with(world, SECRET) == 200
    world.clock.advance(59)
    assert await status_with(world, SECRET) == 200


async def test_previous_secret_is_refused_once_the_overlap_ends(world: World) -> None:
    await rotate(world, 60)
    world.clock.advance(60)
    assert await status_with(world, SECRET) == 401
    assert await status_with(world, NEW) == 200


async def test_rotation_without_overlap_refuses_the_old_secret_at_once(world: World) -> None:
    await rotate(world, None)
    assert await status_with(world, SECRET) == 401
    assert await status_with(world, NEW) == 200
