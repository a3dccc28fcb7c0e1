"""RFC 9449 at a resource server: BearerAuthMiddleware and TokenValidator accept a
DPoP-bound token only with a proof by its key for this request, and refuse it as Bearer."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.e2e.backends import REDIS_URL, require_redis
from tests.e2e.dpop_proofs import ProofKey
from tests.resource.conftest import AUDIENCE, FakeIssuer
from tollhouse.errors import InvalidDpopProof
from tollhouse.resource import BearerAuthMiddleware, TokenError, TokenValidator
from tollhouse.resource.dpop import (
    MemoryReplayCache,
    ProofChecker,
    RedisReplayCache,
    normalize_htu,
)
from tollhouse.resource.gateway import create_app
from tollhouse.resource.proof_keys import thumbprint

API = "https://api.example.test"
URL = API + "/readings"


async def readings(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.state.token_claims["sub"]})


@pytest.fixture
async def client(issuer: FakeIssuer) -> AsyncIterator[httpx.AsyncClient]:
    validator = TokenValidator(issuer.url, AUDIENCE)
    app = BearerAuthMiddleware(
        Starlette(routes=[Route("/readings", readings, methods=["GET", "POST"])]),
        validator,
        public_url=API,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://internal:8000") as http:
        yield http
    validator.close()


def bound_token(issuer: FakeIssuer, key: ProofKey) -> str:
    return issuer.mint(cnf={"jkt": key.jkt})


async def test_a_bound_token_with_its_proof_passes(
    issuer: FakeIssuer, client: httpx.AsyncClient
) -> None:
    key = ProofKey()
    token = bound_token(issuer, key)
    proof = key.proof("GET", URL + "?page=2", access_token=token)
    response = await client.get(
        "/readings?page=2", headers={"Authorization": f"DPoP {token}", "DPoP": proof}
    )
    assert response.status_code == 200, response.text


async def test_a_bound_token_as_bearer_is_refused(
    issuer: FakeIssuer, client: httpx.AsyncClient
) -> None:
    token = bound_token(issuer, ProofKey())
    response = await client.get("/readings", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("DPoP algs=")
    assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("wrong ath", "invalid_dpop_proof"),
        ("wrong method", "invalid_dpop_proof"),
        ("internal URL", "invalid_dpop_proof"),
        ("other key", "invalid_token"),
        ("no proof", "invalid_dpop_proof"),
        ("replay", "invalid_dpop_proof"),
    ],
)
async def test_what_does_not_prove_the_key_is_refused(
    issuer: FakeIssuer, client: httpx.AsyncClient, case: str, error: str
) -> None:
    key = ProofKey()
    token = bound_token(issuer, key)
    proofs = {
        "wrong ath": key.proof("GET", URL, access_token=token + "x"),
        "wrong method": key.proof("POST", URL, access_token=token),
        "internal URL": key.proof("GET", "http://internal:8000/readings", access_token=token),
        "other key": ProofKey().proof("GET", URL, access_token=token),
        "replay": key.proof("GET", URL, access_token=token),
    }
    headers = {"Authorization": f"DPoP {token}"}
    if case in proofs:
        headers["DPoP"] = proofs[case]
    if case == "replay":
        assert (await client.get("/readings", headers=headers)).status_code == 200
    response = await client.get("/readings", headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == error
    assert response.headers["WWW-Authenticate"].startswith("DPoP ")


async def test_an_unbound_token_with_the_dpop_scheme_is_refused(
    issuer: FakeIssuer, client: httpx.AsyncClient
) -> None:
    token = issuer.mint()
    key = ProofKey()
    proof = key.proof("GET", URL, access_token=token)
    response = await client.get(
        "/readings", headers={"Authorization": f"DPoP {token}", "DPoP": proof}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_validate_refuses_a_bound_token(issuer: FakeIssuer) -> None:
    validator = TokenValidator(issuer.url, AUDIENCE)
    try:
        with pytest.raises(TokenError) as refused:
            validator.validate(bound_token(issuer, ProofKey()))
        assert refused.value.error == "invalid_token"
        assert validator.validate(issuer.mint())["sub"] == "user-1"
    finally:
        validator.close()


def test_thumbprint_matches_rfc_7638_example() -> None:
    """RFC 7638 §3.1's RSA key and its thumbprint."""
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("HTTPS://API.example.test:443/x?q=1#f", "https://api.example.test/x"),
        ("http://127.0.0.1:80", "http://127.0.0.1/"),
        ("http://[::1]:8080/p", "http://[::1]:8080/p"),
    ],
)
def test_htu_normalisation(a: str, b: str) -> None:
    assert normalize_htu(a) == normalize_htu(b)


async def test_iat_window_is_configurable() -> None:
    key, now = ProofKey(), time.time()
    checker = ProofChecker(MemoryReplayCache(), window=5, now=lambda: now)
    ok = await checker.check([key.proof("GET", URL, iat=now - 4)], method="GET", url=URL)
    assert ok.jkt == key.jkt
    with pytest.raises(InvalidDpopProof):
        await checker.check([key.proof("GET", URL, iat=now - 6)], method="GET", url=URL)


async def test_memory_replay_cache_is_bounded() -> None:
    cache = MemoryReplayCache(max_entries=2)
    assert await cache.first_use("a", 60)
    assert not await cache.first_use("a", 60)
    assert await cache.first_use("b", 60)
    assert await cache.first_use("c", 60)
    assert len(cache._seen) == 2


@pytest.fixture
async def gateway(issuer: FakeIssuer) -> AsyncIterator[httpx.AsyncClient]:
    validator = TokenValidator(issuer.url, AUDIENCE)
    transport = httpx.ASGITransport(app=create_app(validator, public_url=API))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as http:
        yield http
    validator.close()


async def test_the_gateway_checks_the_proof_against_the_original_request(
    issuer: FakeIssuer, gateway: httpx.AsyncClient
) -> None:
    """nginx auth_request: the original method and URI come in X-Original-* headers."""
    key = ProofKey()
    token = bound_token(issuer, key)
    original = {"X-Original-Method": "DELETE", "X-Original-URI": "/readings/7?force=1"}
    auth = {"Authorization": f"DPoP {token}", **original}
    proof = key.proof("DELETE", API + "/readings/7", access_token=token)
    ok = await gateway.get("/nginx/check", headers={**auth, "DPoP": proof})
    assert ok.status_code == 200, ok.text
    assert ok.headers["x-auth-subject"] == "user-1"

    for_get = key.proof("GET", API + "/readings/7", access_token=token)
    refused = await gateway.get("/nginx/check", headers={**auth, "DPoP": for_get})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("DPoP ")
    as_bearer = await gateway.get("/nginx/check", headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401


async def test_two_api_processes_share_replays_through_redis(issuer: FakeIssuer) -> None:
    """Each validator stands for one process of the API; the proof one accepted is a
    replay at the other."""
    require_redis()
    prefix = f"tollhouse-test-{secrets.token_hex(6)}:"
    caches = [RedisReplayCache(REDIS_URL, prefix=prefix) for _ in range(2)]
    validators = [TokenValidator(issuer.url, AUDIENCE, dpop=ProofChecker(c)) for c in caches]
    try:
        key = ProofKey()
        token = bound_token(issuer, key)
        proof = [key.proof("GET", URL, access_token=token)]
        auth = [f"DPoP {token}"]
        first, second = validators
        await first.validate_request_async(auth, proof, method="GET", url=URL)
        with pytest.raises(TokenError) as replayed:
            await second.validate_request_async(auth, proof, method="GET", url=URL)
        assert replayed.value.error == "invalid_dpop_proof"
    finally:
        for validator in validators:
            validator.close()
        for cache in caches:
            await cache.close()


_FUZZ_KEY = ProofKey()
_FUZZ_PROOF = _FUZZ_KEY.proof("GET", URL, iat=2_000_000_000)


@settings(max_examples=300, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=len(_FUZZ_PROOF) - 1),
    replacement=st.text(min_size=0, max_size=3),
)
def test_a_spoiled_proof_is_refused_never_crashes(position: int, replacement: str) -> None:
    """Any edit of a valid proof ends in a refusal of the protocol's family, not a crash."""
    spoiled = _FUZZ_PROOF[:position] + replacement + _FUZZ_PROOF[position + 1 :]
    checker = ProofChecker(MemoryReplayCache(), now=lambda: 2_000_000_000)
    with contextlib.suppress(InvalidDpopProof):
        asyncio.run(checker.check([spoiled], method="GET", url=URL))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_refused_never_crashes(text: str) -> None:
    checker = ProofChecker(MemoryReplayCache())
    with pytest.raises(InvalidDpopProof):
        asyncio.run(checker.check([text], method="GET", url=URL))
