"""Driving the provider's endpoints in-process for protocol tests."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

from tests.protocol.conftest import CALLBACK, SECRET, World
from tollhouse.protocol import pkce
from tollhouse.protocol.client_auth import credentials_from
from tollhouse.protocol.endpoints.authorize import NeedsConsent
from tollhouse.protocol.requests import TokenRequest
from tollhouse.protocol.results import JsonResult, Redirect

VERIFIER = "v" * 43


def basic(client_id: str = "web", secret: str = SECRET) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


async def get_code(world: World, **overrides: str) -> str:
    params = {
        "response_type": "code",
        "client_id": "web",
        "redirect_uri": CALLBACK,
        "scope": "read_sensors write_sensors",
        "code_challenge": pkce.challenge_for(VERIFIER),
        "code_challenge_method": "S256",
        **overrides,
    }
    params = {k: v for k, v in params.items() if v}
    outcome = await world.provider.authorize.handle(params, world.alice)
    if isinstance(outcome, NeedsConsent):
        outcome = await world.provider.authorize.consent(outcome.request, world.alice, allowed=True)
    assert isinstance(outcome, Redirect)
    return parse_qs(urlsplit(outcome.location).query)["code"][0]


async def token(world: World, authorization: str | None = None, **body: str) -> JsonResult:
    creds = credentials_from(authorization or basic(), body)
    return await world.provider.token.handle(TokenRequest(body, creds))


async def code_tokens(world: World) -> dict[str, object]:
    code = await get_code(world)
    result = await token(
        world,
        grant_type="authorization_code",
        code=code,
        redirect_uri=CALLBACK,
        code_verifier=VERIFIER,
    )
    assert result.status == 200, result.body
    return result.body


async def refresh(world: World, refresh_token: str, **body: str) -> JsonResult:
    return await token(world, grant_type="refresh_token", refresh_token=refresh_token, **body)


async def revoke(
    world: World, value: str, authorization: str | None = None, **body: str
) -> JsonResult:
    params = {"token": value, **body}
    creds = credentials_from(authorization or basic(), params)
    return await world.provider.revocation.handle(TokenRequest(params, creds))


async def introspect(
    world: World, value: str, authorization: str | None = None, **body: str
) -> JsonResult:
    params = {"token": value, **body}
    creds = credentials_from(authorization or basic(), params)
    return await world.provider.introspection.handle(TokenRequest(params, creds))
