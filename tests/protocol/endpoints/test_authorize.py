from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.protocol.conftest import CALLBACK, ISSUER, World
from tollhouse.protocol import pkce
from tollhouse.protocol.endpoints.authorize import ErrorPage, NeedsConsent, NeedsLogin
from tollhouse.protocol.results import Redirect

CHALLENGE = pkce.challenge_for("v" * 43)


def params(**overrides: str | None) -> dict[str, str]:
    base: dict[str, str | None] = {
        "response_type": "code",
        "client_id": "web",
        "redirect_uri": CALLBACK,
        "scope": "read_sensors",
        "state": "xyz",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def query(redirect: Redirect) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(redirect.location).query).items()}


async def test_unknown_client_shows_an_error_page_and_never_redirects(world: World) -> None:
    outcome = await world.provider.authorize.handle(params(client_id="nobody"), None)
    assert isinstance(outcome, ErrorPage)
    assert outcome.error.status == 400


async def test_missing_client_id_shows_an_error_page(world: World) -> None:
    outcome = await world.provider.authorize.handle(params(client_id=None), None)
    assert isinstance(outcome, ErrorPage)


@pytest.mark.parametrize(
    "uri", [CALLBACK + "/", "https://APP.test/cb", "https://evil.test/cb", CALLBACK + "?x=1"]
)
async def test_redirect_uri_mismatch_shows_an_error_page(world: World, uri: str) -> None:
    outcome = await world.provider.authorize.handle(params(redirect_uri=uri), None)
    assert isinstance(outcome, ErrorPage)
    assert outcome.redirect_uri == uri
    assert outcome.registered_redirect_uris is None  # not in development mode


async def test_missing_redirect_uri_with_several_registered_shows_an_error_page(
    world: World,
) -> None:
    outcome = await world.provider.authorize.handle(
        params(client_id="spa", redirect_uri=None), None
    )
    assert isinstance(outcome, ErrorPage)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"response_type": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"scope": "unknown"}, "invalid_scope"),
        ({"resource": "https://nowhere.test"}, "invalid_target"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"response_mode": "fragment"}, "invalid_request"),
    ],
)
async def test_other_errors_redirect_with_error_state_and_iss(
    world: World, overrides: dict[str, str | None], error: str
) -> None:
    outcome = await world.provider.authorize.handle(params(**overrides), None)
    assert isinstance(outcome, Redirect)
    assert outcome.location.startswith(CALLBACK + "?")
    q = query(outcome)
    assert q["error"] == error
    assert q["state"] == "xyz"
    assert q["iss"] == ISSUER


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"request": "eyJ..."}, "invalid_request_object"),
        ({"request_uri": "https://rp.test/request.jwt"}, "invalid_request_uri"),
        ({"request_uri": "urn:ietf:params:oauth:request_uri:unknown"}, "invalid_request_uri"),
    ],
)
async def test_unreadable_request_objects_and_uris_show_an_error_page(
    world: World, overrides: dict[str, str | None], error: str
) -> None:
    """RFC 9101 / RFC 9126: the redirect_uri to answer at is inside what could not be
    read, so the user sees the error; nothing is redirected."""
    outcome = await world.provider.authorize.handle(params(**overrides), None)
    assert isinstance(outcome, ErrorPage)
    assert outcome.error.error == error


async def test_public_client_without_pkce_is_refused(world: World) -> None:
    outcome = await world.provider.authorize.handle(
        params(
            client_id="spa",
            redirect_uri="https://spa.test/cb",
            code_challenge=None,
            code_challenge_method=None,
        ),
        None,
    )
    assert isinstance(outcome, Redirect)
    assert query(outcome)["error"] == "invalid_request"


async def test_client_without_code_grant_is_unauthorized_client(world: World) -> None:
    await world.storage.delete_client("m2m")
    from tollhouse.models import AuthMethod, Client

    await world.storage.add_client(
        Client(
            "m2m", "M", (CALLBACK,), ("client_credentials",), AuthMethod.CLIENT_SECRET_BASIC, 0, "h"
        )
    )
    outcome = await world.provider.authorize.handle(params(client_id="m2m"), None)
    assert isinstance(outcome, Redirect)
    assert query(outcome)["error"] == "unauthorized_client"


async def test_anonymous_user_must_log_in(world: World) -> None:
    outcome = await world.provider.authorize.handle(params(), None)
    assert isinstance(outcome, NeedsLogin)
    assert outcome.request.audience == "https://sensors.test"


async def test_prompt_none_without_session_is_login_required(world: World) -> None:
    outcome = await world.provider.authorize.handle(params(prompt="none"), None)
    assert isinstance(outcome, Redirect)
    assert query(outcome)["error"] == "login_required"


async def test_prompt_none_without_consent_is_consent_required(world: World) -> None:
    outcome = await world.provider.authorize.handle(params(prompt="none"), world.alice)
    assert isinstance(outcome, Redirect)
    assert query(outcome)["error"] == "consent_required"


async def test_consent_once_given_is_remembered(world: World) -> None:
    outcome = await world.provider.authorize.handle(params(), world.alice)
    assert isinstance(outcome, NeedsConsent)
    first = await world.provider.authorize.consent(outcome.request, world.alice, allowed=True)
    assert "code" in query(first)
    again = await world.provider.authorize.handle(params(), world.alice)
    assert isinstance(again, Redirect)
    assert "code" in query(again)


async def test_consent_for_fewer_scopes_does_not_cover_more(world: World) -> None:
    outcome = await world.provider.authorize.handle(params(), world.alice)
    assert isinstance(outcome, NeedsConsent)
    await world.provider.authorize.consent(outcome.request, world.alice, allowed=True)
    wider = await world.provider.authorize.handle(
        params(scope="read_sensors write_sensors"), world.alice
    )
    assert isinstance(wider, NeedsConsent)


async def test_deny_is_access_denied(world: World) -> None:
    outcome = await world.provider.authorize.handle(params(), world.alice)
    assert isinstance(outcome, NeedsConsent)
    denied = await world.provider.authorize.consent(outcome.request, world.alice, allowed=False)
    q = query(denied)
    assert q["error"] == "access_denied" and q["state"] == "xyz" and q["iss"] == ISSUER
    assert "code" not in q


async def test_prompt_login_forces_reauthentication(world: World) -> None:
    outcome = await world.provider.authorize.handle(params(prompt="login"), world.alice)
    assert isinstance(outcome, NeedsLogin)


async def test_max_age_exceeded_forces_reauthentication(world: World) -> None:
    world.clock.advance(120)
    outcome = await world.provider.authorize.handle(params(max_age="60"), world.alice)
    assert isinstance(outcome, NeedsLogin)


async def test_code_is_stored_only_as_a_hash(world: World) -> None:
    outcome = await world.provider.authorize.handle(params(), world.alice)
    assert isinstance(outcome, NeedsConsent)
    redirect = await world.provider.authorize.consent(outcome.request, world.alice, allowed=True)
    code = query(redirect)["code"]
    assert len(code) >= 43
    assert code not in repr(world.storage.__dict__)


async def test_redirect_keeps_the_registered_query(world: World) -> None:
    from tollhouse.models import AuthMethod, Client

    await world.storage.add_client(
        Client(
            "q",
            "Q",
            ("https://q.test/cb?tenant=7",),
            ("authorization_code",),
            AuthMethod.CLIENT_SECRET_BASIC,
            0,
            "h",
        )
    )
    outcome = await world.provider.authorize.handle(
        params(client_id="q", redirect_uri="https://q.test/cb?tenant=7", scope="x y"), None
    )
    assert isinstance(outcome, Redirect)
    assert outcome.location.startswith("https://q.test/cb?tenant=7&error=invalid_scope")


async def _self_registered(world: World) -> None:
    import dataclasses

    client = await world.storage.get_client("web")
    assert client is not None
    await world.storage.update_client(dataclasses.replace(client, self_registered=True))


async def test_a_self_registered_client_is_asked_consent_every_time(world: World) -> None:
    """Keycloak's anonymous-registration policy: no remembered consent for strangers."""
    await _self_registered(world)
    outcome = await world.provider.authorize.handle(params(), world.alice)
    assert isinstance(outcome, NeedsConsent)
    first = await world.provider.authorize.consent(outcome.request, world.alice, allowed=True)
    assert "code" in query(first) and not first.third_party  # the user just allowed it
    again = await world.provider.authorize.handle(params(), world.alice)
    assert isinstance(again, NeedsConsent)


async def test_error_redirects_to_an_operators_client_go_straight_back(world: World) -> None:
    outcome = await world.provider.authorize.handle(params(response_type="token"), None)
    assert isinstance(outcome, Redirect) and not outcome.third_party


async def test_error_redirects_to_a_self_registered_client_go_through_the_notice(
    world: World,
) -> None:
    """RFC 9700 §4.11.2: errors anyone can cause must not redirect unasked to a host
    nobody vouched for."""
    await _self_registered(world)
    cases = [
        await world.provider.authorize.handle(params(response_type="token"), None),
        await world.provider.authorize.handle(params(prompt="none"), None),
        await world.provider.authorize.handle(params(prompt="none"), world.alice),
    ]
    outcome = await world.provider.authorize.handle(params(), world.alice)
    assert isinstance(outcome, NeedsConsent)
    cases.append(
        await world.provider.authorize.consent(outcome.request, world.alice, allowed=False)
    )
    errors = [query(case)["error"] for case in cases if isinstance(case, Redirect)]
    assert errors == [
        "unsupported_response_type",
        "login_required",
        "consent_required",
        "access_denied",
    ]
    assert all(isinstance(case, Redirect) and case.third_party for case in cases)
