from __future__ import annotations

from collections.abc import Awaitable, Callable

import jwt
import pytest

from tests.protocol.conftest import World
from tests.protocol.tokens_helpers import code_tokens, introspect, refresh
from tollhouse.models import RefreshToken
from tollhouse.randomness import fingerprint

Reader = Callable[[str], Awaitable[RefreshToken | None]]


def jti_of(access_token: object) -> str:
    return str(jwt.decode(str(access_token), options={"verify_signature": False})["jti"])


async def test_code_exchange_issues_a_refresh_token_to_clients_allowed_the_grant(
    world: World,
) -> None:
    body = await code_tokens(world)
    assert isinstance(body["refresh_token"], str) and len(body["refresh_token"]) >= 43


async def test_refresh_token_rotates_on_every_use(world: World) -> None:
    body = await code_tokens(world)
    seen = {body["refresh_token"]}
    current = str(body["refresh_token"])
    for _ in range(5):
        result = await refresh(world, current)
        assert result.status == 200, result.body
        current = str(result.body["refresh_token"])
        assert current not in seen
        seen.add(current)


async def test_refresh_token_replay_revokes_the_whole_family(world: World) -> None:
    body = await code_tokens(world)
    chain = [str(body["refresh_token"])]
    accesses = [body["access_token"]]
    for _ in range(5):
        result = await refresh(world, chain[-1])
        chain.append(str(result.body["refresh_token"]))
        accesses.append(result.body["access_token"])
    replay = await refresh(world, chain[1])
    assert replay.status == 400 and replay.body["error"] == "invalid_grant"
    latest = await refresh(world, chain[-1])
    assert latest.body["error"] == "invalid_grant"
    for access in accesses:
        assert await world.storage.is_revoked(jti_of(access), world.clock.now())
        assert (await introspect(world, str(access))).body == {"active": False}


async def test_scope_may_be_narrowed_but_not_widened(world: World) -> None:
    body = await code_tokens(world)
    narrowed = await refresh(world, str(body["refresh_token"]), scope="read_sensors")
    assert narrowed.status == 200 and narrowed.body["scope"] == "read_sensors"
    # The new refresh token keeps the original scope (RFC 6749 §6).
    full = await refresh(world, str(narrowed.body["refresh_token"]))
    assert full.body["scope"] == "read_sensors write_sensors"
    wider = await refresh(world, str(full.body["refresh_token"]), scope="read_sensors admin")
    assert wider.body["error"] == "invalid_scope"


async def test_refresh_token_is_bound_to_its_client(world: World) -> None:
    from tests.protocol.conftest import FAST, SECRET
    from tests.protocol.tokens_helpers import basic, token
    from tollhouse.models import AuthMethod, Client

    await world.storage.add_client(
        Client(
            "other",
            "O",
            ("https://o.test/cb",),
            ("authorization_code", "refresh_token"),
            AuthMethod.CLIENT_SECRET_BASIC,
            0,
            FAST.hash(SECRET),
        )
    )
    body = await code_tokens(world)
    stolen = await token(
        world, basic("other"), grant_type="refresh_token", refresh_token=str(body["refresh_token"])
    )
    assert stolen.body["error"] == "invalid_grant"
    # The rightful client can still use it: the other client did not burn it.
    assert (await refresh(world, str(body["refresh_token"]))).status == 200


async def test_refresh_token_expires_when_idle(world: World) -> None:
    body = await code_tokens(world)
    world.clock.advance(world.provider.settings.refresh_token_ttl + 1)
    assert (await refresh(world, str(body["refresh_token"]))).body["error"] == "invalid_grant"


async def test_family_has_an_absolute_lifetime(world: World) -> None:
    settings = world.provider.settings
    body = await code_tokens(world)
    current = str(body["refresh_token"])
    started = world.clock.now()
    step = settings.refresh_token_ttl // 2
    for _ in range(settings.refresh_token_absolute_ttl // step + 2):
        world.clock.advance(step)
        result = await refresh(world, current)
        if result.status != 200:
            assert result.body["error"] == "invalid_grant"
            break
        current = str(result.body["refresh_token"])
    else:
        pytest.fail("the family outlived its absolute lifetime")
    assert world.clock.now() - started >= settings.refresh_token_absolute_ttl


async def test_a_token_of_a_revoked_family_is_refused_and_left_unused(world: World) -> None:
    body = await code_tokens(world)
    stored = await world.storage.get_refresh_token(fingerprint(str(body["refresh_token"])))
    assert stored is not None
    await world.storage.revoke_family(stored.family_id, world.clock.now(), "test")
    result = await refresh(world, str(body["refresh_token"]))
    assert result.status == 400
    assert result.body["error"] == "invalid_grant"
    assert "revoked" in str(result.body["error_description"])
    assert await world.storage.get_refresh_token(stored.token_hash) == stored


async def test_an_idle_expired_token_says_so(world: World) -> None:
    body = await code_tokens(world)
    world.clock.advance(world.provider.settings.refresh_token_ttl + 1)
    result = await refresh(world, str(body["refresh_token"]))
    assert result.body["error_description"] == "The refresh token has expired."


async def test_unknown_refresh_token_is_invalid_grant(world: World) -> None:
    assert (await refresh(world, "garbage")).body["error"] == "invalid_grant"


async def test_missing_refresh_token_is_invalid_request(world: World) -> None:
    from tests.protocol.tokens_helpers import token

    assert (await token(world, grant_type="refresh_token")).body["error"] == "invalid_request"


async def test_client_without_refresh_grant_gets_no_refresh_token(world: World) -> None:
    from tests.protocol.conftest import CALLBACK, FAST, SECRET
    from tests.protocol.tokens_helpers import VERIFIER, basic, get_code, token
    from tollhouse.models import AuthMethod, Client

    await world.storage.add_client(
        Client(
            "plain",
            "P",
            (CALLBACK,),
            ("authorization_code",),
            AuthMethod.CLIENT_SECRET_BASIC,
            0,
            FAST.hash(SECRET),
        )
    )
    code = await get_code(world, client_id="plain")
    result = await token(
        world,
        basic("plain"),
        grant_type="authorization_code",
        code=code,
        redirect_uri=CALLBACK,
        code_verifier=VERIFIER,
    )
    assert result.status == 200 and "refresh_token" not in result.body


def _stale_once(world: World, stale: RefreshToken | None) -> Reader:
    """``get_refresh_token`` whose first answer is ``stale``: the read of a request that
    found the token unused just before another request rotated it."""
    reads = [stale]
    real = world.storage.get_refresh_token

    async def read(token_hash: str) -> RefreshToken | None:
        return reads.pop() if reads else await real(token_hash)

    return read


async def test_concurrent_reuse_is_a_replay_that_revokes_the_family(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 9700 §4.14.2: the loser of two simultaneous uses finds the token consumed by
    the winner after it read it unused: a replay, not an expired token."""
    body = await code_tokens(world)
    token = str(body["refresh_token"])
    stale = await world.storage.get_refresh_token(fingerprint(token))
    winner = await refresh(world, token)
    assert winner.status == 200
    monkeypatch.setattr(world.storage, "get_refresh_token", _stale_once(world, stale))
    loser = await refresh(world, token)
    assert loser.body == {
        "error": "invalid_grant",
        "error_description": "The refresh token was already used; its grant has been revoked.",
    }
    successor = await refresh(world, str(winner.body["refresh_token"]))
    assert successor.body["error"] == "invalid_grant"
    for access in (body["access_token"], winner.body["access_token"]):
        assert (await introspect(world, str(access))).body == {"active": False}


class TestGracePeriod:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"refresh_grace_period": 30}

    async def test_retry_within_grace_keeps_the_family(self, world: World) -> None:
        body = await code_tokens(world)
        first = await refresh(world, str(body["refresh_token"]))
        assert first.status == 200
        world.clock.advance(5)
        retry = await refresh(world, str(body["refresh_token"]))
        assert retry.status == 200, retry.body
        # The family lives on through the retry's token...
        onward = await refresh(world, str(retry.body["refresh_token"]))
        assert onward.status == 200
        # ...while the token of the lost response was retired: presenting it is a replay.
        assert (await refresh(world, str(first.body["refresh_token"]))).status == 400
        assert (await refresh(world, str(onward.body["refresh_token"]))).status == 400

    async def test_retry_after_successor_was_used_is_a_replay(self, world: World) -> None:
        body = await code_tokens(world)
        first = await refresh(world, str(body["refresh_token"]))
        second = await refresh(world, str(first.body["refresh_token"]))
        assert second.status == 200
        replay = await refresh(world, str(body["refresh_token"]))
        assert replay.body["error"] == "invalid_grant"
        assert (await refresh(world, str(second.body["refresh_token"]))).status == 400

    async def test_retry_after_grace_is_a_replay(self, world: World) -> None:
        body = await code_tokens(world)
        first = await refresh(world, str(body["refresh_token"]))
        world.clock.advance(31)
        assert (await refresh(world, str(body["refresh_token"]))).status == 400
        assert (await refresh(world, str(first.body["refresh_token"]))).status == 400

    async def test_concurrent_use_within_grace_is_a_retry(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The grace period covers the loser of a race as it covers a retry: it gets
        the family's one live token, and the family lives on."""
        body = await code_tokens(world)
        token = str(body["refresh_token"])
        stale = await world.storage.get_refresh_token(fingerprint(token))
        assert (await refresh(world, token)).status == 200
        monkeypatch.setattr(world.storage, "get_refresh_token", _stale_once(world, stale))
        loser = await refresh(world, token)
        assert loser.status == 200, loser.body
        onward = await refresh(world, str(loser.body["refresh_token"]))
        assert onward.status == 200
