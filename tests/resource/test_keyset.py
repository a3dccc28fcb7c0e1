"""Key sources: the validation core verifies with whatever keys its source holds."""

from __future__ import annotations

import time

import pytest

from tests.resource.conftest import AUDIENCE, compact, new_key
from tollhouse.resource.at_jwt import Rule
from tollhouse.resource.errors import TokenError
from tollhouse.resource.keyset import StaticKeys, parse_keys
from tollhouse.resource.validator import AccessTokenVerifier

ISSUER = "https://id.example.test"


def token(key_alg: str = "ES256", **claims: object) -> tuple[str, dict[str, object]]:
    key = new_key(key_alg)
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "sub": "u",
        "aud": AUDIENCE,
        "exp": now + 60,
        "iat": now,
        "jti": "j",
        "client_id": "c",
        **claims,
    }
    return compact({"alg": key.alg, "typ": "at+jwt", "kid": key.kid}, body, key), key.jwk()


def test_static_keys_verify_without_any_http() -> None:
    value, jwk = token()
    verifier = AccessTokenVerifier(ISSUER, {AUDIENCE}, StaticKeys([jwk]))
    assert verifier.verify(value).claims["sub"] == "u"
    assert verifier.verify(value).jti == "j" and verifier.cache_hits == 1


def test_an_unknown_kid_names_the_kid_rule() -> None:
    value, _ = token()
    _, other = token()
    verifier = AccessTokenVerifier(ISSUER, {AUDIENCE}, StaticKeys([other]))
    with pytest.raises(TokenError) as caught:
        verifier.verify(value)
    assert caught.value.check == Rule.KID


def test_no_audiences_accepts_any_audience_but_not_another_issuer() -> None:
    value, jwk = token(aud="https://elsewhere.example.test")
    assert AccessTokenVerifier(ISSUER, None, StaticKeys([jwk])).verify(value)
    with pytest.raises(TokenError) as caught:
        AccessTokenVerifier("https://other.example.test", None, StaticKeys([jwk])).verify(value)
    assert caught.value.check == Rule.ISS


def test_static_keys_keep_only_allowed_algorithms() -> None:
    _, es256 = token("ES256")
    _, eddsa = token("EdDSA")
    keys = StaticKeys([es256, eddsa], algorithms=["EdDSA"]).current()
    assert set(keys.keys) == {eddsa["kid"]} and keys.algorithms == {"EdDSA"}


def test_a_kid_listed_twice_names_no_key() -> None:
    _, first = token()
    _, second = token()
    second["kid"] = first["kid"]
    assert parse_keys([first, second, "junk"], frozenset({"ES256"})) == {}
