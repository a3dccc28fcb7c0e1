"""Pending interactions (protocol/interactions.py) and finishing a sign-in
(protocol/sign_in.py), without HTTP: one answer per interaction, a form only from the
browser that started the request, and the built-in pages closed when the operator's
own replace them."""

from __future__ import annotations

import pytest

from tests.protocol.conftest import CALLBACK, ISSUER, World
from tollhouse.models import Client
from tollhouse.protocol.endpoints.authorize import NeedsLogin
from tollhouse.protocol.interactions import InteractionRefused, Interactions, PendingState
from tollhouse.protocol.requests import AuthorizationRequest
from tollhouse.protocol.results import Redirect

REQUEST = AuthorizationRequest(
    client_id="web",
    redirect_uri=CALLBACK,
    redirect_uri_sent=True,
    scopes=("openid",),
    audience=ISSUER,
    state="st",
    nonce="n",
    code_challenge=None,
    code_challenge_method=None,
)


async def client(world: World) -> Client:
    found = await world.storage.get_client("web")
    assert found is not None
    return found


def interaction_of(location: str) -> str:
    return location.split("interaction=", 1)[1]


async def test_start_sends_the_browser_to_the_built_in_page(world: World) -> None:
    started = await world.provider.sign_in.start(NeedsLogin(REQUEST, await client(world)), None)
    assert started.location.startswith("/login?interaction=")
    pending = await world.provider.sign_in.open(interaction_of(started.location), "login")
    assert pending.request == REQUEST and pending.client.client_id == "web"


async def test_the_pages_of_a_sign_in_read_the_client_from_the_registry_cache(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each page of a sign-in (login, the form's POST, consent) opens the interaction:
    its client comes from the cache ``/authorize`` and ``/token`` use, so a flood of
    sign-ins does not read the client table on every page."""
    started = await world.provider.sign_in.start(NeedsLogin(REQUEST, await client(world)), None)
    read: list[str] = []
    stored = world.storage.get_client

    async def counted(client_id: str) -> Client | None:
        read.append(client_id)
        return await stored(client_id)

    monkeypatch.setattr(world.storage, "get_client", counted)
    for _ in range(3):
        pending = await world.provider.sign_in.open(interaction_of(started.location), "login")
        assert pending.client.client_id == "web"
    assert len(read) <= 1, read


async def test_start_keeps_the_browsers_csrf_token(world: World) -> None:
    started = await world.provider.sign_in.start(NeedsLogin(REQUEST, await client(world)), "c")
    assert started.csrf == "c"
    fresh = await world.provider.sign_in.start(NeedsLogin(REQUEST, await client(world)), None)
    assert fresh.csrf and fresh.csrf != "c"


async def test_an_external_login_page_closes_the_built_in_one(world: World) -> None:
    interactions = Interactions(
        store=world.storage,
        clients=world.storage,
        clock=world.clock,
        ttl=600,
        login_url="https://login.example/in",
    )
    started = await interactions.start(PendingState(REQUEST), None)
    assert started.location.startswith("https://login.example/in?interaction=")
    with pytest.raises(InteractionRefused) as refused:
        await interactions.open(interaction_of(started.location), "login")
    assert refused.value.key == "error.no_interaction"


async def test_a_form_is_accepted_only_with_the_browsers_csrf_token(world: World) -> None:
    sign_in = world.provider.sign_in
    started = await sign_in.start(NeedsLogin(REQUEST, await client(world)), None)
    pending = await sign_in.open(interaction_of(started.location), "login")
    sign_in.check_csrf(pending, started.csrf, started.csrf)
    for sent, cookie in ((None, started.csrf), (started.csrf, None), ("other", "other")):
        with pytest.raises(InteractionRefused):
            sign_in.check_csrf(pending, sent, cookie)


async def test_an_interaction_expires(world: World) -> None:
    started = await world.provider.sign_in.start(NeedsLogin(REQUEST, await client(world)), None)
    world.clock.advance(601)
    with pytest.raises(InteractionRefused) as refused:
        await world.provider.sign_in.open(interaction_of(started.location), "login")
    assert refused.value.key == "error.interaction_expired"


async def test_log_in_takes_the_interaction_once_and_carries_amr(world: World) -> None:
    sign_in = world.provider.sign_in
    started = await sign_in.start(NeedsLogin(REQUEST, await client(world)), None)
    pending = await sign_in.open(interaction_of(started.location), "login")
    logged_in = await sign_in.log_in(pending, "alice-id", None)
    session = await world.provider.sessions.current(logged_in.cookie.value)
    assert session is not None and session.amr == ("pwd",)
    with pytest.raises(InteractionRefused):
        await sign_in.log_in(pending, "alice-id", None)


async def test_check_password(world: World) -> None:
    sign_in = world.provider.sign_in
    started = await sign_in.start(NeedsLogin(REQUEST, await client(world)), None)
    pending = await sign_in.open(interaction_of(started.location), "login")
    assert await sign_in.check_password(pending, "alice", "alice password") == "alice-id"
    assert await sign_in.check_password(pending, "alice", "wrong") is None


async def test_deny_on_the_consent_page_sends_access_denied(world: World) -> None:
    sign_in = world.provider.sign_in
    started = await sign_in.start(NeedsLogin(REQUEST, await client(world)), None)
    pending = await sign_in.open(interaction_of(started.location), "login")
    denied = await sign_in.decide_consent(pending, world.alice, allowed=False)
    assert isinstance(denied, Redirect) and "error=access_denied" in denied.location
