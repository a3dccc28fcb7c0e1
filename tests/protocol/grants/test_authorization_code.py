from __future__ import annotations

import base64

import jwt
import pytest

from tests.protocol import tokens_helpers as helpers
from tests.protocol.conftest import CALLBACK, ISSUER, SECRET, World
from tests.protocol.tokens_helpers import VERIFIER, basic
from tollhouse.protocol.client_auth import credentials_from
from tollhouse.protocol.requests import TokenRequest
from tollhouse.protocol.results import JsonResult


async def get_code(world: World, **overrides: str) -> str:
    """A code for the ``read_sensors`` scope (tokens_helpers.get_code asks for two)."""
    return await helpers.get_code(world, **{"scope": "read_sensors", **overrides})


async def redeem(
    world: World, code: str, *, authorization: str | None = None, **body: str
) -> JsonResult:
    params = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": VERIFIER,
        **body,
    }
    params = {k: v for k, v in params.items() if v}
    creds = credentials_from(basic() if authorization is None else authorization or None, params)
    return await world.provider.token.handle(TokenRequest(params, creds))


async def test_code_exchange_issues_rfc9068_token(world: World) -> None:
    result = await redeem(world, await get_code(world))
    assert result.status == 200
    assert result.headers["Cache-Control"] == "no-store"
    token = result.body["access_token"]
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == ISSUER and claims["aud"] == "https://sensors.test"
    assert claims["sub"] == "alice-id" and claims["client_id"] == "web"
    assert claims["exp"] - claims["iat"] == 900


async def test_code_reuse_revokes_issued_tokens(world: World) -> None:
    code = await get_code(world)
    first = await redeem(world, code)
    jti = jwt.decode(first.body["access_token"], options={"verify_signature": False})["jti"]
    assert not await world.storage.is_revoked(jti, world.clock.now())
    second = await redeem(world, code)
    assert second.status == 400 and second.body["error"] == "invalid_grant"
    assert await world.storage.is_revoked(jti, world.clock.now())


async def test_code_expires_after_its_lifetime(world: World) -> None:
    code = await get_code(world)
    world.clock.advance(61)
    result = await redeem(world, code)
    assert result.body["error"] == "invalid_grant"


async def test_code_is_bound_to_the_client(world: World) -> None:
    from tests.protocol.conftest import FAST
    from tollhouse.models import AuthMethod, Client

    await world.storage.add_client(
        Client(
            "other",
            "O",
            (CALLBACK,),
            ("authorization_code",),
            AuthMethod.CLIENT_SECRET_BASIC,
            0,
            FAST.hash(SECRET),
        )
    )
    result = await redeem(world, await get_code(world), authorization=basic("other"))
    assert result.body["error"] == "invalid_grant"


async def test_code_is_bound_to_the_redirect_uri(world: World) -> None:
    result = await redeem(world, await get_code(world), redirect_uri=CALLBACK + "/")
    assert result.body["error"] == "invalid_grant"


async def test_redirect_uri_must_be_repeated_when_it_was_sent(world: World) -> None:
    result = await redeem(world, await get_code(world), redirect_uri="")
    assert result.body["error"] == "invalid_grant"


async def test_code_is_bound_to_the_pkce_challenge(world: World) -> None:
    result = await redeem(world, await get_code(world), code_verifier="w" * 43)
    assert result.body["error"] == "invalid_grant"


async def test_verifier_without_challenge_is_refused(world: World) -> None:
    code = await get_code(world, code_challenge="", code_challenge_method="")
    result = await redeem(world, code)
    assert result.body["error"] == "invalid_grant"


async def test_wrong_secret_is_invalid_client_with_401(world: World) -> None:
    result = await redeem(world, await get_code(world), authorization=basic(secret="wrong"))
    assert result.status == 401
    assert result.body["error"] == "invalid_client"
    assert result.headers["WWW-Authenticate"].startswith("Basic")


async def test_unknown_client_is_invalid_client(world: World) -> None:
    result = await redeem(world, "x", authorization=basic("ghost"))
    assert result.status == 401 and result.body["error"] == "invalid_client"


async def test_client_secret_post_is_accepted(world: World) -> None:
    result = await redeem(
        world, await get_code(world), authorization="", client_id="web", client_secret=SECRET
    )
    assert result.status == 200


async def test_unknown_code_is_invalid_grant(world: World) -> None:
    result = await redeem(world, "not-a-code")
    assert result.body["error"] == "invalid_grant"


async def test_unsupported_grant_type(world: World) -> None:
    creds = credentials_from(basic(), {})
    result = await world.provider.token.handle(TokenRequest({"grant_type": "password"}, creds))
    assert result.body["error"] == "unsupported_grant_type"


async def test_missing_grant_type_is_invalid_request(world: World) -> None:
    result = await world.provider.token.handle(TokenRequest({}, credentials_from(basic(), {})))
    assert result.body["error"] == "invalid_request"


async def test_public_client_cannot_present_a_secret(world: World) -> None:
    result = await redeem(world, "x", authorization=basic("spa", "anything"))
    assert result.body["error"] == "invalid_client"


async def test_resource_at_token_must_match_authorized_audience(world: World) -> None:
    result = await redeem(world, await get_code(world), resource="https://other.test")
    assert result.body["error"] == "invalid_target"


@pytest.mark.parametrize(
    "header", ["Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode(), "Bearer abc"]
)
def test_malformed_basic_header_is_invalid_client(header: str) -> None:
    from tollhouse.errors import InvalidClient

    with pytest.raises(InvalidClient):
        credentials_from(header, {})


def test_two_authentication_methods_are_refused() -> None:
    from tollhouse.errors import InvalidRequest

    with pytest.raises(InvalidRequest):
        credentials_from(basic(), {"client_secret": "x", "client_id": "web"})


def test_basic_credentials_are_form_urldecoded() -> None:
    header = "Basic " + base64.b64encode(b"my%3Aclient:p%40ss+word").decode()
    creds = credentials_from(header, {})
    assert creds.client_id == "my:client" and creds.client_secret == "p@ss word"


async def test_replay_racing_the_first_redemption_still_revokes_its_tokens(world: World) -> None:
    """The winner of a race records what it issues with the consuming write, before it
    mints anything: a replay arriving before the tokens exist revokes them at once."""
    from tollhouse.models import RefreshToken, TokenFamily
    from tollhouse.randomness import fingerprint
    from tollhouse.storage.ports import IssuedByCode

    code = await get_code(world)
    now = world.clock.now()
    stored = await world.storage.get_code(fingerprint(code))
    assert stored is not None
    family = TokenFamily("winner-family", "web", stored.user_id, now, now + 3600)
    first = RefreshToken(
        "winner-refresh", family.family_id, "web", stored.user_id, (), "", None, now, now + 60
    )
    issued = IssuedByCode("winner-jti", now + 900, family=family, first_token=first)
    assert await world.storage.consume_code(fingerprint(code), now, issued) is not None

    result = await redeem(world, code)
    assert result.body["error"] == "invalid_grant"
    assert await world.storage.is_revoked("winner-jti", now)
    revoked = await world.storage.get_family("winner-family")
    assert revoked is not None and revoked.revoked_reason == "code_reuse"


async def _other_client(world: World) -> None:
    from tests.protocol.conftest import FAST
    from tollhouse.models import AuthMethod, Client

    await world.storage.add_client(
        Client(
            "other",
            "O",
            (CALLBACK,),
            ("authorization_code",),
            AuthMethod.CLIENT_SECRET_BASIC,
            0,
            FAST.hash(SECRET),
        )
    )


@pytest.mark.parametrize(
    "refused_with",
    [
        {"code_verifier": "w" * 43},
        {"redirect_uri": "https://elsewhere.test/cb"},
        {"resource": "https://billing.test"},
    ],
)
async def test_a_refused_binding_leaves_the_code_redeemable(
    world: World, refused_with: dict[str, str]
) -> None:
    code = await get_code(world)
    refused = await redeem(world, code, **refused_with)
    assert refused.body["error"] in ("invalid_grant", "invalid_target")
    corrected = await redeem(world, code)
    assert corrected.status == 200, corrected.body


async def test_another_client_cannot_spend_a_code(world: World) -> None:
    await _other_client(world)
    code = await get_code(world)
    stolen = await redeem(world, code, authorization=basic("other"))
    assert stolen.body["error"] == "invalid_grant"
    assert (await redeem(world, code)).status == 200


async def test_another_client_presenting_a_used_code_revokes_nothing(world: World) -> None:
    await _other_client(world)
    code = await get_code(world)
    first = await redeem(world, code)
    stolen = await redeem(world, code, authorization=basic("other"))
    assert (
        stolen.body["error_description"] == "The authorization code was issued to another client."
    )
    jti = jwt.decode(str(first.body["access_token"]), options={"verify_signature": False})["jti"]
    assert not await world.storage.is_revoked(jti, world.clock.now())
