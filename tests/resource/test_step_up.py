"""RFC 9470 step-up: ``require_acr`` and ``check_authentication`` refuse a valid token
whose sign-in was of a lower level or too long ago, with ``acr_values`` / ``max_age``
in ``WWW-Authenticate``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from tests.resource.conftest import AUDIENCE, FakeIssuer
from tollhouse.resource import TokenError, TokenValidator, check_authentication, require_acr

MFA = "urn:tollhouse:mfa"


@pytest.fixture
def validator(issuer: FakeIssuer) -> Iterator[TokenValidator]:
    v = TokenValidator(issuer.url, AUDIENCE)
    yield v
    v.close()


@pytest.fixture
async def api(validator: TokenValidator) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.token_validator = validator

    @app.post("/breakers/open")
    async def open_breaker(
        claims: Annotated[dict[str, Any], Depends(require_acr(MFA, scopes=("write",)))],
    ) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    @app.post("/settings")
    async def settings(
        claims: Annotated[dict[str, Any], Depends(require_acr(max_age=300))],
    ) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_password_only_token_is_asked_to_step_up(
    issuer: FakeIssuer, api: httpx.AsyncClient
) -> None:
    refused = await api.post("/breakers/open", headers=bearer(issuer.mint(amr=["pwd"])))
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert challenge.startswith(f'Bearer realm="{AUDIENCE}", ')
    assert 'error="insufficient_user_authentication"' in challenge
    assert f'acr_values="{MFA}"' in challenge
    assert refused.headers["cache-control"] == "no-store"

    token = issuer.mint(acr=MFA, amr=["pwd", "otp", "mfa"])
    assert (await api.post("/breakers/open", headers=bearer(token))).status_code == 200


async def test_scopes_are_still_checked_first(issuer: FakeIssuer, api: httpx.AsyncClient) -> None:
    token = issuer.mint(acr=MFA, scope="read")
    assert (await api.post("/breakers/open", headers=bearer(token))).status_code == 403


async def test_an_old_sign_in_is_asked_to_sign_in_again(
    issuer: FakeIssuer, api: httpx.AsyncClient
) -> None:
    old = issuer.mint(auth_time=int(time.time()) - 3600)
    refused = await api.post("/settings", headers=bearer(old))
    assert refused.status_code == 401
    assert 'max_age="300"' in refused.headers["www-authenticate"]
    no_time = await api.post("/settings", headers=bearer(issuer.mint()))
    assert no_time.status_code == 401
    fresh = issuer.mint(auth_time=int(time.time()) - 10)
    assert (await api.post("/settings", headers=bearer(fresh))).status_code == 200


def test_a_passkey_sign_in_meets_mfa_and_only_it_meets_phr() -> None:
    check_authentication({"acr": "phr"}, acr_values=(MFA,))
    check_authentication({"acr": "phr"}, acr_values=("phr",))
    with pytest.raises(TokenError) as refused:
        check_authentication({"acr": MFA}, acr_values=("phr",), max_age=300)
    assert 'acr_values="phr", max_age="300"' in refused.value.www_authenticate
    with pytest.raises(TokenError):
        check_authentication({"acr": ["phr"]}, acr_values=("phr",))


def test_the_framework_free_check() -> None:
    with pytest.raises(TokenError) as refused:
        check_authentication({"acr": "urn:other"}, acr_values=(MFA,), max_age=60)
    assert refused.value.status_code == 401
    assert refused.value.error == "insufficient_user_authentication"
    assert 'acr_values="urn:tollhouse:mfa", max_age="60"' in refused.value.www_authenticate
    check_authentication({"acr": MFA, "auth_time": 100}, acr_values=(MFA,), max_age=60, now=150)
    with pytest.raises(TokenError):
        check_authentication({"auth_time": True}, max_age=60, now=50)
