"""OpenID Connect Core rules on the in-memory provider: ID Tokens, UserInfo, hints,
offline_access and logout."""

from __future__ import annotations

import dataclasses

import jwt
import pytest

from tests.protocol.conftest import CALLBACK, FAST, ISSUER, SECRET, World
from tests.protocol.tokens_helpers import VERIFIER, basic, get_code, refresh, token
from tollhouse.models import AuthMethod, Client, Session, User
from tollhouse.protocol.endpoints.authorize import NeedsLogin, SignedIn
from tollhouse.protocol.id_token import left_hash
from tollhouse.protocol.results import Redirect


async def oidc_tokens(
    world: World, scope: str = "openid profile email", client_id: str = "web", **extra: str
) -> dict[str, object]:
    code = await get_code(world, scope=scope, client_id=client_id, nonce="n-0S6_WzA2Mj", **extra)
    result = await token(
        world,
        basic(client_id),
        grant_type="authorization_code",
        code=code,
        redirect_uri=CALLBACK,
        code_verifier=VERIFIER,
    )
    assert result.status == 200, result.body
    return result.body


def verify_id_token(world: World, id_token: str, audience: str = "web") -> dict[str, object]:
    header = jwt.get_unverified_header(id_token)
    key = next(k for k in world.provider.keyring.jwks()["keys"] if k["kid"] == header["kid"])
    return jwt.decode(
        id_token,
        key=jwt.PyJWK(key),
        algorithms=[header["alg"]],
        audience=audience,
        issuer=ISSUER,
        options={"verify_iat": False, "verify_exp": False},
    )


@pytest.fixture
async def oidc_world(world: World) -> World:
    await world.storage.delete_user("alice")
    await world.storage.add_user(
        User(
            "alice-id",
            "alice",
            FAST.hash("pw"),
            0,
            email="alice@example.test",
            name="Alice Doe",
            email_verified=True,
        )
    )
    session = Session(
        "sess-hash",
        "alice-id",
        world.clock.now(),
        world.clock.now(),
        world.clock.now() + 3600,
        sid="sid-1",
        last_active_at=world.clock.now(),
    )
    await world.storage.add_session(session)
    world.alice = SignedIn("alice-id", world.clock.now(), "sess-hash", "sid-1", ("pwd",))
    return world


async def test_openid_scope_returns_an_rs256_id_token_by_default(oidc_world: World) -> None:
    body = await oidc_tokens(oidc_world)
    id_token = str(body["id_token"])
    assert jwt.get_unverified_header(id_token)["alg"] == "RS256"
    claims = verify_id_token(oidc_world, id_token)
    assert claims["sub"] == "alice-id" and claims["aud"] == "web" and claims["azp"] == "web"
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["auth_time"] == oidc_world.alice.auth_time
    assert claims["sid"] == "sid-1" and claims["amr"] == ["pwd"]
    assert claims["exp"] - claims["iat"] == 600  # type: ignore[operator]
    assert claims["at_hash"] == left_hash(str(body["access_token"]), "RS256")
    assert "email" not in claims  # claims go to userinfo in the code flow (OIDC Core §5.4)


async def test_id_tokens_keep_amr_and_auth_time_of_the_sign_in_across_refresh(
    oidc_world: World,
) -> None:
    signed_at = oidc_world.alice.auth_time
    oidc_world.alice = dataclasses.replace(oidc_world.alice, amr=("pwd", "otp"))
    body = await oidc_tokens(oidc_world, scope="openid")
    first = verify_id_token(oidc_world, str(body["id_token"]))
    assert first["amr"] == ["pwd", "otp"] and first["auth_time"] == signed_at
    assert "acr" not in first
    oidc_world.clock.advance(300)
    refreshed = await refresh(oidc_world, str(body["refresh_token"]))
    assert refreshed.status == 200, refreshed.body
    # OIDC Core §12.2: the refreshed ID Token describes the original authentication.
    again = verify_id_token(oidc_world, str(refreshed.body["id_token"]))
    assert again["amr"] == ["pwd", "otp"] and again["auth_time"] == signed_at
    assert again["iat"] == signed_at + 300


async def test_id_token_has_no_amr_when_the_sign_in_reported_none(oidc_world: World) -> None:
    oidc_world.alice = dataclasses.replace(oidc_world.alice, amr=())
    body = await oidc_tokens(oidc_world, scope="openid")
    assert "amr" not in verify_id_token(oidc_world, str(body["id_token"]))


async def test_id_token_alg_as_registered(oidc_world: World) -> None:
    client = await oidc_world.storage.get_client("web")
    assert client is not None
    await oidc_world.storage.delete_client("web")
    await oidc_world.storage.add_client(
        dataclasses.replace(client, id_token_signed_response_alg="ES256")
    )
    body = await oidc_tokens(oidc_world)
    assert jwt.get_unverified_header(str(body["id_token"]))["alg"] == "ES256"


async def test_no_id_token_without_openid(oidc_world: World) -> None:
    body = await oidc_tokens(oidc_world, scope="read_sensors")
    assert "id_token" not in body


async def test_pairwise_subjects_differ_per_sector_and_are_stable(oidc_world: World) -> None:
    await oidc_world.storage.add_client(
        Client(
            "pw",
            "PW",
            (CALLBACK,),
            ("authorization_code",),
            AuthMethod.CLIENT_SECRET_BASIC,
            0,
            FAST.hash(SECRET),
            subject_type="pairwise",
        )
    )
    first = verify_id_token(
        oidc_world, str((await oidc_tokens(oidc_world, client_id="pw"))["id_token"]), "pw"
    )
    second = verify_id_token(
        oidc_world, str((await oidc_tokens(oidc_world, client_id="pw"))["id_token"]), "pw"
    )
    assert first["sub"] == second["sub"] != "alice-id"
    assert len(str(first["sub"])) == 43


async def test_userinfo_returns_claims_as_consented(oidc_world: World) -> None:
    body = await oidc_tokens(oidc_world, scope="openid email")
    result = await oidc_world.provider.userinfo.handle(f"Bearer {body['access_token']}", None)
    assert result.status == 200
    assert result.body == {"sub": "alice-id", "email": "alice@example.test", "email_verified": True}
    profile = await oidc_tokens(oidc_world, scope="openid profile")
    result = await oidc_world.provider.userinfo.handle(
        None, {"access_token": str(profile["access_token"])}
    )
    assert result.body == {
        "sub": "alice-id",
        "name": "Alice Doe",
        "preferred_username": "alice",
        "updated_at": 0,
    }


async def test_userinfo_errors_follow_rfc6750(oidc_world: World) -> None:
    missing = await oidc_world.provider.userinfo.handle(None, None)
    assert missing.status == 401 and missing.www_authenticate == 'Bearer realm="tollhouse"'
    bad = await oidc_world.provider.userinfo.handle("Bearer garbage", None)
    assert bad.status == 401 and 'error="invalid_token"' in str(bad.www_authenticate)
    no_openid = await oidc_tokens(oidc_world, scope="read_sensors")
    scope = await oidc_world.provider.userinfo.handle(f"Bearer {no_openid['access_token']}", None)
    assert scope.status == 403 and 'error="insufficient_scope"' in str(scope.www_authenticate)
    both = await oidc_world.provider.userinfo.handle("Bearer a", {"access_token": "b"})
    assert both.status == 400
    malformed = await oidc_world.provider.userinfo.handle("Basic abc", None)
    assert malformed.status == 400


async def test_userinfo_refuses_a_revoked_token(oidc_world: World) -> None:
    from tests.protocol.tokens_helpers import revoke

    body = await oidc_tokens(oidc_world)
    await revoke(oidc_world, str(body["access_token"]))
    result = await oidc_world.provider.userinfo.handle(f"Bearer {body['access_token']}", None)
    assert result.status == 401


async def test_refresh_returns_a_new_id_token_with_the_same_subject(oidc_world: World) -> None:
    body = await oidc_tokens(oidc_world, scope="openid offline_access")
    refreshed = await refresh(oidc_world, str(body["refresh_token"]))
    claims = verify_id_token(oidc_world, str(refreshed.body["id_token"]))
    first = verify_id_token(oidc_world, str(body["id_token"]))
    assert claims["sub"] == first["sub"] and claims["auth_time"] == first["auth_time"]
    assert "nonce" not in claims


async def test_id_token_hint_for_another_user_forces_login(oidc_world: World) -> None:
    body = await oidc_tokens(oidc_world)
    await oidc_world.storage.add_user(User("bob-id", "bob", FAST.hash("pw"), 0))
    bob = SignedIn("bob-id", oidc_world.clock.now(), None, None)
    params = {
        "response_type": "code", "client_id": "web", "redirect_uri": CALLBACK, "scope": "openid",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256",
        "id_token_hint": str(body["id_token"]),
    }  # fmt: skip
    assert isinstance(await oidc_world.provider.authorize.handle(params, bob), NeedsLogin)
    silent = await oidc_world.provider.authorize.handle({**params, "prompt": "none"}, bob)
    assert isinstance(silent, Redirect) and "error=login_required" in silent.location
    garbage = await oidc_world.provider.authorize.handle({**params, "id_token_hint": "x.y.z"}, bob)
    assert isinstance(garbage, Redirect) and "error=invalid_request" in garbage.location


async def test_logout_revokes_online_families_but_keeps_offline_ones(oidc_world: World) -> None:
    online = await oidc_tokens(oidc_world, scope="openid")
    offline = await oidc_tokens(oidc_world, scope="openid offline_access")
    session = await oidc_world.storage.get_session("sess-hash")
    assert session is not None
    await oidc_world.provider.sessions.end(session, "logout")
    assert (await refresh(oidc_world, str(online["refresh_token"]))).body[
        "error"
    ] == "invalid_grant"
    assert (await refresh(oidc_world, str(offline["refresh_token"]))).status == 200
    assert await oidc_world.storage.get_session("sess-hash") is None


async def test_logout_produces_backchannel_logout_tokens(oidc_world: World) -> None:
    client = await oidc_world.storage.get_client("web")
    assert client is not None
    await oidc_world.storage.delete_client("web")
    await oidc_world.storage.add_client(
        dataclasses.replace(client, backchannel_logout_uri="https://app.test/bcl")
    )
    await oidc_tokens(oidc_world)
    session = await oidc_world.storage.get_session("sess-hash")
    assert session is not None
    [notification] = await oidc_world.provider.sessions.end(session, "logout")
    assert oidc_world.logouts.sent == [notification]
    assert notification.uri == "https://app.test/bcl"
    header = jwt.get_unverified_header(notification.logout_token)
    assert header["typ"] == "logout+jwt"
    claims = verify_id_token(oidc_world, notification.logout_token)
    assert claims["sid"] == "sid-1" and claims["sub"] == "alice-id"
    assert "http://schemas.openid.net/event/backchannel-logout" in claims["events"]  # type: ignore[operator]
    assert "nonce" not in claims


async def test_logout_request_rules(oidc_world: World) -> None:
    from tollhouse.errors import InvalidRequest

    client = await oidc_world.storage.get_client("web")
    assert client is not None
    await oidc_world.storage.delete_client("web")
    await oidc_world.storage.add_client(
        dataclasses.replace(client, post_logout_redirect_uris=("https://app.test/bye",))
    )
    body = await oidc_tokens(oidc_world)
    ok = await oidc_world.provider.logout.validate(
        {
            "id_token_hint": str(body["id_token"]),
            "post_logout_redirect_uri": "https://app.test/bye",
            "state": "s",
        }
    )
    assert ok.client is not None and ok.hint_subject == "alice-id"
    for params in (
        {"post_logout_redirect_uri": "https://app.test/bye"},  # no client to check it against
        {"client_id": "web", "post_logout_redirect_uri": "https://app.test/bye/"},  # not exact
        {"id_token_hint": "garbage"},
        {"id_token_hint": str(body["id_token"]), "client_id": "spa"},  # aud mismatch
    ):
        with pytest.raises(InvalidRequest):
            await oidc_world.provider.logout.validate(params)


async def test_logout_ends_without_asking_only_for_this_sessions_hint(oidc_world: World) -> None:
    """RP-Initiated Logout 1.0 §2/§4: the hint's ``sid`` must be the session's."""
    body = await oidc_tokens(oidc_world)
    request = await oidc_world.provider.logout.validate({"id_token_hint": str(body["id_token"])})
    assert request.hint_sid == "sid-1"
    session = await oidc_world.storage.get_session("sess-hash")
    assert session is not None
    logout = oidc_world.provider.logout
    assert logout.ends_without_asking(request, session)
    assert not logout.ends_without_asking(request, dataclasses.replace(session, sid="sid-2"))
    assert not logout.ends_without_asking(request, dataclasses.replace(session, sid=""))
    other_user = dataclasses.replace(session, user_id="bob-id")
    assert not logout.ends_without_asking(request, other_user)
    no_hint = await oidc_world.provider.logout.validate({"client_id": "web"})
    assert not logout.ends_without_asking(no_hint, session)


async def test_logout_destination_of_a_self_registered_client_goes_through_the_notice(
    oidc_world: World,
) -> None:
    client = await oidc_world.storage.get_client("web")
    assert client is not None
    bye = "https://app.test/bye"
    await oidc_world.storage.update_client(
        dataclasses.replace(client, post_logout_redirect_uris=(bye,))
    )
    logout = oidc_world.provider.logout
    request = await logout.validate({"client_id": "web", "post_logout_redirect_uri": bye})
    trusted = logout.destination(request)
    assert trusted is not None and trusted.location == bye and not trusted.third_party
    await oidc_world.storage.update_client(
        dataclasses.replace(client, post_logout_redirect_uris=(bye,), self_registered=True)
    )
    request = await logout.validate(
        {"client_id": "web", "post_logout_redirect_uri": bye, "state": "s"}
    )
    stranger = logout.destination(request)
    assert stranger is not None and stranger.location == bye + "?state=s"
    assert stranger.third_party
    assert logout.destination(await logout.validate({"client_id": "web"})) is None
