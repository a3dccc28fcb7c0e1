"""The interaction API's rules, without HTTP: admin tokens, one answer per
interaction, a verifier redeemed once and only by the browser that started it."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.protocol.conftest import CALLBACK, ISSUER, World
from tollhouse.models import AdminToken, Interaction
from tollhouse.protocol.endpoints.interaction import (
    AnswerExpired,
    ConsentAccepted,
    LoginAccepted,
    PendingState,
    Rejected,
    WrongBrowser,
)
from tollhouse.protocol.requests import AuthorizationRequest
from tollhouse.randomness import fingerprint

CSRF = "csrf-cookie-value"
REQUEST = AuthorizationRequest(
    client_id="web",
    redirect_uri=CALLBACK,
    redirect_uri_sent=True,
    scopes=("openid", "profile"),
    audience=ISSUER,
    state="st",
    nonce="n",
    code_challenge=None,
    code_challenge_method=None,
)


async def pending(world: World, interaction_id: str = "ix-1", **state: object) -> str:
    now = world.clock.now()
    await world.storage.add_interaction(
        Interaction(
            fingerprint(interaction_id),
            fingerprint(CSRF),
            "web",
            PendingState(REQUEST, **state).to_dict(),  # type: ignore[arg-type]
            now,
            now + 600,
        )
    )
    return interaction_id


def verifier_of(redirect_to: str) -> str:
    parts = urlsplit(redirect_to)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{ISSUER}/interaction/callback"
    return parse_qs(parts.query)["verifier"][0]


async def test_admin_token_must_be_known_and_unexpired(world: World) -> None:
    api = world.provider.interactions
    now = world.clock.now()
    await world.storage.add_admin_token(
        AdminToken("id-1", fingerprint("tha_good"), "app", now, now + 60)
    )
    assert await api.authenticate("Bearer tha_good") is None
    missing = await api.authenticate(None)
    assert missing is not None and missing.status == 401 and missing.body == {}
    wrong = await api.authenticate("Bearer tha_bad")
    assert wrong is not None and wrong.body["error"] == "invalid_token"
    assert (await api.authenticate("Basic tha_good")) is not None
    world.clock.advance(60)
    assert await api.authenticate("Bearer tha_good") is not None


def test_pending_state_round_trips_every_decision() -> None:
    for decision in (
        None,
        LoginAccepted("alice-id", remember=False, amr=("otp",)),
        ConsentAccepted(("openid",), remember=True),
        Rejected("login_required", "MFA needed"),
    ):
        state = PendingState(REQUEST, "consent", "alice-id", decision)
        assert PendingState.from_dict(state.to_dict()) == state


async def test_accept_login_by_username_then_redeem_once(world: World) -> None:
    api = world.provider.interactions
    interaction = await pending(world)
    answer = await api.accept_login(interaction, {"username": "alice", "amr": ["otp"]})
    assert answer.status == 200
    verifier = verifier_of(answer.body["redirect_to"])
    redeemed = await api.redeem(verifier, CSRF)
    assert redeemed.decision == LoginAccepted("alice-id", True, ("otp",))
    assert redeemed.state.request == REQUEST
    with pytest.raises(AnswerExpired):
        await api.redeem(verifier, CSRF)


async def test_an_interaction_takes_one_answer(world: World) -> None:
    api = world.provider.interactions
    interaction = await pending(world)
    assert (await api.reject(interaction, {})).status == 200
    again = await api.accept_login(interaction, {"user_id": "alice-id"})
    assert again.status == 404 and again.body["error"] == "not_found"


async def test_redeem_refuses_another_browser(world: World) -> None:
    api = world.provider.interactions
    interaction = await pending(world)
    answer = await api.accept_login(interaction, {"user_id": "alice-id"})
    with pytest.raises(WrongBrowser):
        await api.redeem(verifier_of(answer.body["redirect_to"]), "another-browser")


async def test_verifier_expires_quickly(world: World) -> None:
    api = world.provider.interactions
    interaction = await pending(world)
    answer = await api.accept_login(interaction, {"user_id": "alice-id"})
    world.clock.advance(121)
    with pytest.raises(AnswerExpired):
        await api.redeem(verifier_of(answer.body["redirect_to"]), CSRF)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "alice", "user_id": "alice-id"},
        {"username": "nobody"},
        {"username": 7},
        {"username": "alice", "remember": "yes"},
        {"username": "alice", "amr": ["no spaces allowed"]},
    ],
)
async def test_accept_login_validates_its_body(world: World, body: dict[str, object]) -> None:
    answer = await world.provider.interactions.accept_login(await pending(world), body)
    assert answer.status == 400 and answer.body["error"] == "invalid_request"


async def test_accept_consent_grants_only_requested_scopes(world: World) -> None:
    api = world.provider.interactions
    interaction = await pending(world, stage="consent", user_id="alice-id")
    refused = await api.accept_consent(interaction, {"grant_scopes": ["openid", "email"]})
    assert refused.status == 400
    wrong_stage = await api.accept_login(interaction, {"username": "alice"})
    assert wrong_stage.status == 409
    answer = await api.accept_consent(interaction, {"grant_scopes": ["profile"]})
    redeemed = await api.redeem(verifier_of(answer.body["redirect_to"]), CSRF)
    done = await api.complete_consent(redeemed, world.alice)
    assert "code=" in done.location
    # remember defaulted to true: the consent is stored for the granted scopes.
    consent = await world.storage.get_consent("alice-id", "web")
    assert consent is not None and "profile" in consent.scopes and "openid" not in consent.scopes


async def test_consent_answer_is_for_the_user_it_was_asked_about(world: World) -> None:
    api = world.provider.interactions
    interaction = await pending(world, stage="consent", user_id="bob-id")
    answer = await api.accept_consent(interaction, {})
    redeemed = await api.redeem(verifier_of(answer.body["redirect_to"]), CSRF)
    with pytest.raises(WrongBrowser):
        await api.complete_consent(redeemed, world.alice)


@pytest.mark.parametrize(
    "body",
    [{"error": "server_error"}, {"error_description": 'quote " inside'}, {"error": 3}],
)
async def test_reject_accepts_only_authorization_errors(
    world: World, body: dict[str, object]
) -> None:
    answer = await world.provider.interactions.reject(await pending(world), body)
    assert answer.status == 400


async def test_rejection_redirects_the_error_with_state_and_iss(world: World) -> None:
    api = world.provider.interactions
    answer = await api.reject(await pending(world), {"error": "consent_required"})
    redeemed = await api.redeem(verifier_of(answer.body["redirect_to"]), CSRF)
    location = (await api.rejection(redeemed)).location
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert location.startswith(CALLBACK)
    assert query["error"] == "consent_required" and query["state"] == "st"
    assert query["iss"] == ISSUER


async def test_describe_names_client_scopes_and_stage(world: World) -> None:
    interaction = await pending(world, stage="consent", user_id="alice-id")
    described = await world.provider.interactions.describe(interaction)
    assert described.status == 200
    assert described.body["stage"] == "consent"
    assert described.body["client"] == {
        "client_id": "web",
        "name": "Web App",
        "self_registered": False,
    }
    assert described.body["user"] == {"user_id": "alice-id", "username": "alice"}
    assert described.body["audience"] is None
    assert (await world.provider.interactions.describe("unknown")).status == 404
