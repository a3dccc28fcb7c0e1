"""``token inspect`` explains each RFC 9068 §4 rule: why a token is or is not valid here."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tollhouse.clock import FrozenClock
from tollhouse.diagnostics.inspect import inspect_token
from tollhouse.diagnostics.token_explain import Explanation, Status, decode
from tollhouse.keys import KeyRing, generate
from tollhouse.keys.lifecycle import DEFAULT_RETENTION
from tollhouse.models import AccessTokenRecord, Api, AuthMethod, Client, GrantType, Revocation, User
from tollhouse.security.secretbox import SecretBox
from tollhouse.storage.memory import MemoryStorage

ISSUER = "https://idp.test"
API = "https://sensors.test"
BOX = SecretBox(b"s" * 32)
NOW = 1_800_000_000
KEY = generate("ES256", BOX, NOW - 100)
RETIRED = generate("ES256", BOX, NOW - 200)
FOREIGN = generate("ES256", SecretBox(b"f" * 32), NOW)


@dataclass
class Setup:
    storage: MemoryStorage
    clock: FrozenClock
    ring: KeyRing

    def token(self, *, typ: str = "at+jwt", kid_alg: str | None = None, **claims: Any) -> str:
        base: dict[str, Any] = {
            "iss": ISSUER,
            "sub": "u1",
            "aud": API,
            "exp": NOW + 900,
            "iat": NOW,
            "nbf": NOW,
            "jti": "jti-1",
            "client_id": "web",
            "scope": "read_sensors",
        }
        base.update(claims)
        return self.ring.sign_jwt({k: v for k, v in base.items() if v is not None}, typ=typ)

    async def inspect(self, token: str, **options: Any) -> Explanation:
        return await inspect_token(token, self.storage, issuer=ISSUER, clock=self.clock, **options)


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    storage = MemoryStorage()
    await storage.add_key(KEY)
    await storage.add_key(RETIRED)
    await storage.set_key_status(RETIRED.kid, "retired", NOW - 50)
    await storage.add_api(Api(API, ("read_sensors",), NOW, "Sensors"))
    await storage.add_client(
        Client(
            "web",
            "Web App",
            ("https://app.test/cb",),
            (GrantType.AUTHORIZATION_CODE,),
            AuthMethod.NONE,
            NOW,
        )
    )
    await storage.add_user(User("u1", "alice", "$argon2id$x", NOW))
    await storage.record_access_token(AccessTokenRecord("jti-1", "web", "u1", NOW + 900, NOW))
    clock = FrozenClock(NOW)
    ring = KeyRing(storage, BOX, clock)
    await ring.load()
    yield Setup(storage, clock, ring)


def check(explanation: Explanation, name: str) -> tuple[Status, str]:
    found = [c for c in explanation.checks if c.name == name]
    assert len(found) == 1, explanation.checks
    return found[0].status, found[0].detail


async def test_fresh_token_is_valid_and_names_client_and_user(setup: Setup) -> None:
    explanation = await setup.inspect(setup.token())
    assert explanation.valid, explanation.checks
    assert check(explanation, "signature") == (Status.PASS, f"verifies with key {KEY.kid}")
    assert check(explanation, "client") == (Status.INFO, "web (Web App)")
    assert check(explanation, "subject") == (Status.INFO, "user alice (u1)")
    assert "API 'Sensors'" in check(explanation, "aud")[1]


async def test_expired_token_names_the_expiry_and_the_leeway(setup: Setup) -> None:
    token = setup.token()
    setup.clock.advance(900 + 31)
    explanation = await setup.inspect(token)
    assert not explanation.valid
    status, detail = check(explanation, "exp")
    assert status is Status.FAIL
    assert "(31 s ago; leeway 30 s)" in detail
    assert explanation.first_failure is not None and explanation.first_failure.name == "exp"


async def test_token_just_expired_passes_inside_the_leeway(setup: Setup) -> None:
    token = setup.token()
    setup.clock.advance(905)
    assert check(await setup.inspect(token), "exp")[0] is Status.PASS
    assert check(await setup.inspect(token, leeway=0), "exp")[0] is Status.FAIL


async def test_token_from_the_future_names_clock_skew(setup: Setup) -> None:
    explanation = await setup.inspect(setup.token(iat=NOW + 120, nbf=NOW + 120, exp=NOW + 1000))
    assert check(explanation, "iat")[0] is Status.FAIL
    assert "clock skew" in check(explanation, "iat")[1]
    assert "clock is behind the issuer's" in check(explanation, "nbf")[1]


async def test_other_issuer_names_the_difference(setup: Setup) -> None:
    explanation = await setup.inspect(setup.token(iss=ISSUER + "/"))
    status, detail = check(explanation, "iss")
    assert status is Status.FAIL
    assert "trailing slash differs" in detail


async def test_unknown_audience_and_required_audience(setup: Setup) -> None:
    other = await setup.inspect(setup.token(aud="https://billing.test"))
    assert "is not an API of this server" in check(other, "aud")[1]
    required = await setup.inspect(setup.token(), audience="https://billing.test")
    assert check(required, "aud")[0] is Status.FAIL
    issuer_aud = await setup.inspect(setup.token(aud=ISSUER))
    assert "good for /userinfo only" in check(issuer_aud, "aud")[1]


async def test_revoked_token_is_invalid(setup: Setup) -> None:
    await setup.storage.revoke(Revocation("jti-1", NOW + 900, NOW))
    explanation = await setup.inspect(setup.token())
    assert check(explanation, "revoked")[0] is Status.FAIL
    assert not explanation.valid


async def test_token_signed_by_a_retired_key_still_verifies(setup: Setup) -> None:
    retired_ring = KeyRing(_Only([RETIRED]), BOX, setup.clock)
    await retired_ring.load()
    token = retired_ring.sign_jwt(
        {
            "iss": ISSUER,
            "sub": "u1",
            "aud": API,
            "exp": NOW + 60,
            "iat": NOW,
            "jti": "j2",
            "client_id": "web",
        },
        typ="at+jwt",
    )
    explanation = await setup.inspect(token)
    assert explanation.valid, explanation.checks
    assert "retired: it signs no more, and verifies until" in check(explanation, "kid")[1]


async def test_token_of_a_key_no_longer_published_is_refused(setup: Setup) -> None:
    retired_ring = KeyRing(_Only([RETIRED]), BOX, setup.clock)
    await retired_ring.load()
    token = retired_ring.sign_jwt({"iss": ISSUER, "exp": NOW + 60, "iat": NOW}, typ="at+jwt")
    setup.clock.advance(DEFAULT_RETENTION)  # retired at NOW - 50: dropped 50 s ago
    explanation = await setup.inspect(token)
    assert "is no longer published" in check(explanation, "kid")[1]
    assert check(explanation, "signature") == (
        Status.FAIL,
        "not verified: the key is not published",
    )


async def test_unknown_kid_is_named(setup: Setup) -> None:
    foreign = KeyRing(_Only([FOREIGN]), SecretBox(b"f" * 32), setup.clock)
    await foreign.load()
    token = foreign.sign_jwt({"iss": ISSUER, "exp": NOW + 60, "iat": NOW}, typ="at+jwt")
    explanation = await setup.inspect(token)
    assert "is not one of this server's keys" in check(explanation, "kid")[1]
    assert check(explanation, "signature") == (Status.FAIL, "not verified: no matching key")


async def test_altered_claims_fail_the_signature(setup: Setup) -> None:
    header, _, signature = setup.token().split(".")
    forged = _b64(
        {
            "iss": ISSUER,
            "sub": "admin",
            "aud": API,
            "exp": NOW + 60,
            "iat": NOW,
            "jti": "x",
            "client_id": "web",
        }
    )
    explanation = await setup.inspect(f"{header}.{forged}.{signature}")
    assert check(explanation, "signature")[0] is Status.FAIL
    assert "altered" in check(explanation, "signature")[1]
    assert not explanation.valid


async def test_alg_none_and_alg_mismatch_are_refused(setup: Setup) -> None:
    _, payload, signature = setup.token().split(".")
    none = _b64({"alg": "none", "kid": KEY.kid, "typ": "at+jwt"})
    assert check(await setup.inspect(f"{none}.{payload}.{signature}"), "alg")[0] is Status.FAIL
    rs = _b64({"alg": "RS256", "kid": KEY.kid, "typ": "at+jwt"})
    assert "is an ES256 key" in check(await setup.inspect(f"{rs}.{payload}.{signature}"), "alg")[1]


async def test_unsigned_token_fails_alg_first_then_the_signature(setup: Setup) -> None:
    _, payload, _ = setup.token().split(".")
    none = _b64({"alg": "none", "kid": KEY.kid, "typ": "at+jwt"})
    explanation = await setup.inspect(f"{none}.{payload}.")
    assert explanation.first_failure is not None and explanation.first_failure.name == "alg"
    assert "unsigned" in check(explanation, "signature")[1]


async def test_id_token_typ_is_not_an_access_token(setup: Setup) -> None:
    explanation = await setup.inspect(setup.token(typ="JWT"))
    assert "an ID token?" in check(explanation, "typ")[1]


@pytest.mark.parametrize(
    ("token", "words"),
    [
        ("opaque-refresh-token", "three dot-separated segments"),
        ("a.b.c.d.e", "JWE"),
        ("!!.e30.sig", "header is not valid base64url JSON"),
        (
            base64.urlsafe_b64encode(b"[1]").decode().rstrip("=") + ".e30.sig",
            "header is not a JSON object",
        ),
    ],
)
def test_undecodable_input_says_why(token: str, words: str) -> None:
    result = decode(token)
    assert isinstance(result, str) and words in result


async def test_explanation_never_contains_the_signature(setup: Setup) -> None:
    token = setup.token()
    signature = token.split(".")[2]
    explanation = await setup.inspect(token)
    assert signature not in json.dumps(explanation.to_dict())


class _Only:
    def __init__(self, keys: list[Any]) -> None:
        self._keys = keys

    async def list_keys(self) -> list[Any]:
        return [dataclasses.replace(k, status="active") for k in self._keys]


def _b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
