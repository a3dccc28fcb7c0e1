"""The protocol reports security events through the Events port, with identifiers only."""

from __future__ import annotations

import dataclasses

import pytest

from tests.protocol.conftest import CALLBACK, FAST, World
from tests.protocol.tokens_helpers import VERIFIER, basic, get_code, refresh, token
from tollhouse.protocol.client_auth import credentials_from
from tollhouse.protocol.events import (
    CodeReplayed,
    FamilyRevoked,
    RecordedEvents,
    RefreshReplayed,
    TokenIssued,
    TokenRevoked,
)
from tollhouse.protocol.requests import TokenRequest
from tollhouse.provider import Hashers, build_provider


@pytest.fixture
async def recorded(world: World) -> RecordedEvents:
    """Rewire the world's provider so its events land in a list."""
    events = RecordedEvents()
    world.provider = await build_provider(
        world.provider.settings,
        world.storage,
        clock=world.clock,
        hashers=Hashers(FAST, FAST),
        events=events,
    )
    return events


def secrets_in(events: RecordedEvents, *values: str) -> list[str]:
    fields = [str(v) for e in events.events for v in dataclasses.astuple(e)]
    return [value for value in values if any(value in field for field in fields)]


async def test_code_exchange_reports_issued_tokens(world: World, recorded: RecordedEvents) -> None:
    code = await get_code(world)
    result = await token(
        world,
        grant_type="authorization_code",
        code=code,
        redirect_uri=CALLBACK,
        code_verifier=VERIFIER,
    )
    assert result.status == 200
    issued = [e for e in recorded.events if isinstance(e, TokenIssued)]
    assert sorted(e.kind for e in issued) == ["access_token", "refresh_token"]
    access = next(e for e in issued if e.kind == "access_token")
    assert access.client_id == "web" and access.subject == "alice-id" and access.jti
    body = result.body
    assert secrets_in(recorded, code, str(body["access_token"]), str(body["refresh_token"])) == []


async def test_code_reuse_reports_the_replay_and_the_revocations(
    world: World, recorded: RecordedEvents
) -> None:
    code = await get_code(world)
    params = {"code": code, "redirect_uri": CALLBACK, "code_verifier": VERIFIER}
    assert (await token(world, grant_type="authorization_code", **params)).status == 200
    recorded.events.clear()
    assert (await token(world, grant_type="authorization_code", **params)).status == 400
    assert CodeReplayed("web") in recorded.events
    reasons = {e.reason for e in recorded.events if isinstance(e, TokenRevoked | FamilyRevoked)}
    assert reasons == {"code_reuse"}
    assert any(isinstance(e, TokenRevoked) for e in recorded.events)
    assert secrets_in(recorded, code) == []


async def test_refresh_replay_reports_the_replay_and_the_family_revocation(
    world: World, recorded: RecordedEvents
) -> None:
    code = await get_code(world)
    first = await token(
        world,
        grant_type="authorization_code",
        code=code,
        redirect_uri=CALLBACK,
        code_verifier=VERIFIER,
    )
    old = str(first.body["refresh_token"])
    assert (await refresh(world, old)).status == 200
    recorded.events.clear()
    assert (await refresh(world, old)).status == 400
    replays = [e for e in recorded.events if isinstance(e, RefreshReplayed)]
    assert len(replays) == 1 and replays[0].client_id == "web"
    assert FamilyRevoked(replays[0].family_id, "refresh_replay") in recorded.events
    assert secrets_in(recorded, old) == []


async def test_revocation_by_the_client_is_reported_with_its_reason(
    world: World, recorded: RecordedEvents
) -> None:
    issued = await token(world, basic("m2m"), grant_type="client_credentials", scope="read_sensors")
    assert issued.status == 200
    body = {"token": str(issued.body["access_token"])}
    result = await world.provider.revocation.handle(
        TokenRequest(body, credentials_from(basic("m2m"), body))
    )
    assert result.status == 200
    revoked = [e for e in recorded.events if isinstance(e, TokenRevoked)]
    assert [e.reason for e in revoked] == ["revoked_by_client"]


async def test_an_id_token_is_reported_as_issued(world: World, recorded: RecordedEvents) -> None:
    code = await get_code(world, scope="openid read_sensors")
    result = await token(
        world,
        grant_type="authorization_code",
        code=code,
        redirect_uri=CALLBACK,
        code_verifier=VERIFIER,
    )
    assert result.status == 200 and "id_token" in result.body
    kinds = [e.kind for e in recorded.events if isinstance(e, TokenIssued)]
    assert "id_token" in kinds
    assert secrets_in(recorded, str(result.body["id_token"])) == []


async def test_a_code_spent_without_issuing_anything_is_no_replay(
    world: World, recorded: RecordedEvents
) -> None:
    """Only a code that issued tokens coming back is a replay (reported, revoking)."""
    from tollhouse.randomness import fingerprint

    code = await get_code(world)
    assert await world.storage.consume_code(fingerprint(code), world.clock.now()) is not None
    again = await token(
        world,
        grant_type="authorization_code",
        code=code,
        redirect_uri=CALLBACK,
        code_verifier=VERIFIER,
    )
    assert again.body["error_description"] == "The authorization code was already used."
    assert not [e for e in recorded.events if isinstance(e, CodeReplayed)]
