"""RFC 9068 §4, one rule at a time: each refuses with ``invalid_token`` naming itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.resource.conftest import b64json
from tollhouse.resource import at_jwt
from tollhouse.resource.at_jwt import Rule
from tollhouse.resource.errors import TokenError

ISSUER = "https://id.example.test"
API = "https://api.example.test"
NOW = 1_800_000_000
ALGS = frozenset({"ES256"})


def claims(**overrides: Any) -> dict[str, Any]:
    base = {
        "iss": ISSUER,
        "sub": "u",
        "aud": API,
        "exp": NOW + 60,
        "iat": NOW,
        "jti": "j",
        "client_id": "c",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def refusal(rule: Callable[..., object], *args: Any) -> TokenError:
    with pytest.raises(TokenError) as caught:
        rule(*args)
    assert caught.value.error == "invalid_token" and caught.value.status_code == 401
    return caught.value


HEADER = {"alg": "ES256", "typ": "at+jwt", "kid": "k"}


@pytest.mark.parametrize(
    ("header", "rule"),
    [
        ({**HEADER, "alg": "none"}, Rule.ALG),
        ({**HEADER, "alg": "HS256"}, Rule.ALG),
        ({**HEADER, "typ": "JWT"}, Rule.TYP),
        ({**HEADER, "crit": ["exp"]}, Rule.CRIT),
        ({**HEADER, "kid": ""}, Rule.KID),
    ],
)
def test_each_header_rule_names_itself(header: dict[str, Any], rule: Rule) -> None:
    assert refusal(at_jwt.parse_header, b64json(header), ALGS).check == rule


def test_typ_is_compared_without_case_and_with_or_without_application() -> None:
    for typ in ("at+jwt", "AT+JWT", "application/at+jwt"):
        at_jwt.check_typ({"typ": typ})


def test_a_header_that_is_not_an_object_is_a_format_failure() -> None:
    assert refusal(at_jwt.header_of, b64json([1])).check == Rule.FORMAT
    assert refusal(at_jwt.header_of, "!!").check == Rule.FORMAT


@pytest.mark.parametrize(
    ("spoiled", "rule"),
    [
        ({"iss": "https://evil.example.test"}, Rule.ISS),
        ({"aud": "https://other.example.test"}, Rule.AUD),
        ({"exp": NOW - 31}, Rule.EXP),
        ({"exp": True}, Rule.EXP),
        ({"nbf": NOW + 31}, Rule.NBF),
        ({"iat": NOW + 31}, Rule.IAT),
        ({"iat": None}, Rule.IAT),
        ({"client_id": 7}, Rule.CLAIMS),
        ({"scope": ["a"]}, Rule.CLAIMS),
    ],
)
def test_each_claims_rule_names_itself(spoiled: dict[str, Any], rule: Rule) -> None:
    failure = refusal(at_jwt.check_claims, claims(**spoiled), ISSUER, {API}, NOW, 30, "k")
    assert failure.check == rule


def test_leeway_applies_to_exp_nbf_and_iat() -> None:
    inside = claims(exp=NOW - 29, nbf=NOW + 29, iat=NOW + 29)
    verified = at_jwt.check_claims(inside, ISSUER, {API}, NOW, 30, "k")
    assert verified.jti == "j" and verified.kid == "k"


def test_no_audiences_means_any_well_formed_audience() -> None:
    for aud in ("https://any.example.test", ["a", "b"]):
        at_jwt.check_aud({"aud": aud}, None)
    for aud in (None, "", [], ["a", 5]):
        assert refusal(at_jwt.check_aud, {"aud": aud}, None).check == Rule.AUD


def test_scopes_come_from_the_scope_claim() -> None:
    verified = at_jwt.check_claims(claims(scope="a b"), ISSUER, {API}, NOW, 0, "k")
    assert verified.scopes == frozenset({"a", "b"})


def test_rules_are_listed_in_the_order_the_validator_applies_them() -> None:
    assert [r.value for r in Rule] == [
        "format",
        "alg",
        "typ",
        "crit",
        "kid",
        "signature",
        "iss",
        "aud",
        "exp",
        "nbf",
        "iat",
        "claims",
        "revoked",
    ]
