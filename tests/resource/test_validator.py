"""The attack suite of issue 4: every hostile token is refused with the right RFC 6750 error."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from tests.resource.conftest import (
    AUDIENCE,
    FakeIssuer,
    b64,
    b64json,
    compact,
    hs256,
    new_key,
)
from tollhouse.clock import FrozenClock
from tollhouse.errors import ConfigError
from tollhouse.resource import TokenError, TokenValidator

ALGS = ("ES256", "RS256", "EdDSA")


@pytest.fixture
def validator(issuer: FakeIssuer) -> Iterator[TokenValidator]:
    v = TokenValidator(issuer.url, AUDIENCE)
    yield v
    v.close()


def refused(validator: TokenValidator, token: str, *, error: str = "invalid_token") -> TokenError:
    with pytest.raises(TokenError) as caught:
        validator.validate(token)
    exc = caught.value
    assert exc.error == error
    assert exc.status_code == {"invalid_token": 401, "insufficient_scope": 403}[error]
    assert exc.www_authenticate.startswith(f'Bearer realm="{AUDIENCE}", error="{error}"')
    return exc


def with_payload(issuer: FakeIssuer, payload: bytes) -> str:
    """A token whose payload segment is exactly ``payload``, validly signed (ES256)."""
    key = issuer.keys["ES256"]
    signing_input = f"{b64json(issuer.header(key))}.{b64(payload)}"
    return f"{signing_input}.{b64(key.sign(signing_input.encode()))}"


def retyped(token: str, **header: Any) -> str:
    """The same payload and signature under another header (the signature no longer fits)."""
    _, payload, signature = token.split(".")
    return f"{b64json(header)}.{payload}.{signature}"


@pytest.mark.parametrize("alg", ALGS)
def test_valid_token_is_accepted(issuer: FakeIssuer, validator: TokenValidator, alg: str) -> None:
    claims = validator.validate(issuer.mint(alg), ["read"])
    assert claims["sub"] == "user-1"
    assert claims["aud"] == AUDIENCE


def test_alg_none_is_refused(issuer: FakeIssuer, validator: TokenValidator) -> None:
    key = issuer.keys["ES256"]
    header = b64json({"alg": "none", "typ": "at+jwt", "kid": key.kid})
    unsigned = f"{header}.{b64json(issuer.claims())}"
    refused(validator, unsigned + ".")
    exc = refused(validator, unsigned + ".AAAA")
    assert "algorithm" in exc.description


def test_hs256_signed_with_the_public_key_is_refused(
    issuer: FakeIssuer, validator: TokenValidator
) -> None:
    key = issuer.keys["RS256"]
    pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "at+jwt", "kid": key.kid}
    for secret in (pem, json.dumps(key.jwk()).encode()):
        exc = refused(validator, hs256(header, issuer.claims(), secret))
        assert "HS256" in exc.description


@pytest.mark.parametrize("alg", [["ES256"], {"a": 1}, 256, None, "es256"])
def test_odd_alg_values_are_refused(
    issuer: FakeIssuer, validator: TokenValidator, alg: Any
) -> None:
    key = issuer.keys["ES256"]
    header = {"alg": alg, "typ": "at+jwt", "kid": key.kid}
    assert "algorithm" in refused(validator, compact(header, issuer.claims(), key)).description


def test_hmac_and_none_cannot_be_allowed() -> None:
    for algs in (("HS256",), ("none",), ("ES256", "HS512"), ()):
        with pytest.raises(ConfigError):
            TokenValidator("http://127.0.0.1:1", AUDIENCE, algorithms=algs)


def test_unknown_kid_is_refused(issuer: FakeIssuer, validator: TokenValidator) -> None:
    stranger = new_key("ES256")
    token = compact(issuer.header(stranger), issuer.claims(), stranger)
    assert "unknown key" in refused(validator, token).description


@pytest.mark.parametrize("name", ["jku", "x5u", "jwk", "x5c"])
def test_key_headers_are_ignored(
    issuer: FakeIssuer, signing_keys: dict[str, Any], validator: TokenValidator, name: str
) -> None:
    attacker = FakeIssuer({"ES256": new_key("ES256")})
    try:
        evil = attacker.keys["ES256"]
        value: Any = {
            "jku": attacker.url + "/jwks.json",
            "x5u": attacker.url + "/cert.pem",
            "jwk": evil.jwk(),
            "x5c": ["MIIB"],
        }[name]
        # Signed by the attacker, naming the attacker's key: unknown kid.
        own_kid = compact(issuer.header(evil, **{name: value}), issuer.claims(), evil)
        assert "unknown key" in refused(validator, own_kid).description
        # Signed by the attacker, naming the issuer's kid: the signature does not verify.
        real = issuer.keys["ES256"]
        header = issuer.header(real, **{name: value})
        forged = compact(header, issuer.claims(), evil)
        assert "signature" in refused(validator, forged).description
        assert attacker.jwks_fetches == 0
        # And the header is harmless on a token the issuer really signed.
        assert validator.validate(compact(header, issuer.claims(), real))["sub"] == "user-1"
    finally:
        attacker.close()


def test_expired_beyond_leeway_is_refused(issuer: FakeIssuer, validator: TokenValidator) -> None:
    now = int(time.time())
    token = issuer.mint(exp=now - 31, iat=now - 400, nbf=now - 400)
    assert "expired" in refused(validator, token).description


def test_expired_within_leeway_is_accepted(issuer: FakeIssuer, validator: TokenValidator) -> None:
    now = int(time.time())
    validator.validate(issuer.mint(exp=now - 20, iat=now - 400, nbf=now - 400))


def test_nbf_in_the_future_is_refused(issuer: FakeIssuer, validator: TokenValidator) -> None:
    now = int(time.time())
    assert "nbf" in refused(validator, issuer.mint(nbf=now + 60)).description
    validator.validate(issuer.mint(nbf=now + 20))  # within leeway


def test_iat_in_the_future_is_refused(issuer: FakeIssuer, validator: TokenValidator) -> None:
    now = int(time.time())
    assert "iat" in refused(validator, issuer.mint(iat=now + 60, nbf=None)).description


def test_leeway_is_configurable(issuer: FakeIssuer) -> None:
    now = int(time.time())
    strict = TokenValidator(issuer.url, AUDIENCE, leeway=0)
    try:
        refused(strict, issuer.mint(exp=now - 2, iat=now - 400, nbf=now - 400))
    finally:
        strict.close()


@pytest.mark.parametrize(
    ("claims", "fragment"),
    [
        ({"aud": "https://other.example.test"}, "audience"),
        ({"aud": ["https://a.example.test", "https://b.example.test"]}, "audience"),
        ({"aud": None}, "audience"),
        ({"aud": 5}, "audience"),
        ({"iss": "https://evil.example.test"}, "issuer"),
        ({"iss": None}, "issuer"),
        ({"exp": None}, "exp"),
        ({"exp": "9999999999"}, "exp"),
        ({"exp": True}, "exp"),
        ({"iat": None}, "exp, iat"),
        ({"jti": None}, "jti"),
        ({"sub": ""}, "sub"),
        ({"client_id": 7}, "client_id"),
        ({"scope": ["read"]}, "scope"),
    ],
)
def test_wrong_or_missing_claims_are_refused(
    issuer: FakeIssuer, validator: TokenValidator, claims: dict[str, Any], fragment: str
) -> None:
    assert fragment in refused(validator, issuer.mint(**claims)).description


@pytest.mark.parametrize(
    "spoil",
    [
        lambda p: p.replace(b'"exp": ', b'"exp": NaN, "x": '),
        lambda p: p.replace(b'"exp": ', b'"exp": 1e400, "x": '),
        lambda p: p.replace(b'"exp": ', b'"exp": Infinity, "x": '),
        lambda p: p.replace(b'"sub": "', b'"sub": "\xff'),  # not UTF-8
        lambda p: p.replace(b'"sub": "', b'"sub": "\xed\xa0\x80'),  # a lone surrogate
    ],
    ids=["nan", "overflow", "infinity", "latin-1", "surrogate"],
)
def test_payloads_outside_strict_json_are_refused(
    issuer: FakeIssuer, validator: TokenValidator, spoil: Any
) -> None:
    token = with_payload(issuer, spoil(json.dumps(issuer.claims()).encode()))
    assert "payload" in refused(validator, token).description


def test_duplicate_claims_keep_the_last_value(
    issuer: FakeIssuer, validator: TokenValidator
) -> None:
    payload = json.dumps(issuer.claims()).replace('"sub": ', '"sub": "first", "sub": ')
    assert validator.validate(with_payload(issuer, payload.encode()))["sub"] == "user-1"


def test_audience_in_a_list_is_accepted(issuer: FakeIssuer, validator: TokenValidator) -> None:
    validator.validate(issuer.mint(aud=["https://other.example.test", AUDIENCE]))


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+JWT+x", "", None, 1])
def test_wrong_typ_is_refused(issuer: FakeIssuer, validator: TokenValidator, typ: Any) -> None:
    token = issuer.mint(header={"typ": typ} if typ is not None else {"typ": None})
    assert "typ" in refused(validator, token).description


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT"])
def test_at_jwt_typ_forms_are_accepted(
    issuer: FakeIssuer, validator: TokenValidator, typ: str
) -> None:
    validator.validate(issuer.mint(header={"typ": typ}))


@pytest.mark.parametrize("alg", ALGS)
def test_tampered_payload_is_refused(
    issuer: FakeIssuer, validator: TokenValidator, alg: str
) -> None:
    header, _, signature = issuer.mint(alg).split(".")
    payload = b64json(issuer.claims(scope="read write admin"))
    assert "signature" in refused(validator, f"{header}.{payload}.{signature}").description


@pytest.mark.parametrize("alg", ALGS)
def test_tampered_signature_is_refused(
    issuer: FakeIssuer, validator: TokenValidator, alg: str
) -> None:
    token = issuer.mint(alg)
    head, _, signature = token.rpartition(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    refused(validator, f"{head}.{flipped}")
    refused(validator, f"{head}.{signature[:-4]}")  # truncated


def test_alg_must_match_the_key(issuer: FakeIssuer, validator: TokenValidator) -> None:
    rsa_key = issuer.keys["RS256"]
    # An ES256 signature under the RSA key's kid.
    token = compact(
        {"alg": "ES256", "typ": "at+jwt", "kid": rsa_key.kid}, issuer.claims(), issuer.keys["ES256"]
    )
    assert "match" in refused(validator, token).description


def test_alg_not_advertised_by_the_issuer_is_refused(issuer: FakeIssuer) -> None:
    issuer.advertised = ["ES256"]
    only_es = TokenValidator(issuer.url, AUDIENCE)
    try:
        only_es.validate(issuer.mint("ES256"))
        refused(only_es, issuer.mint("RS256"))
    finally:
        only_es.close()


def test_alg_outside_the_allow_list_is_refused(issuer: FakeIssuer) -> None:
    narrow = TokenValidator(issuer.url, AUDIENCE, algorithms=("EdDSA",))
    try:
        narrow.validate(issuer.mint("EdDSA"))
        refused(narrow, issuer.mint("ES256"))
    finally:
        narrow.close()


def test_a_one_megabyte_token_is_refused_quickly(
    issuer: FakeIssuer, validator: TokenValidator
) -> None:
    token = issuer.mint(padding="x" * (1024 * 1024))
    started = time.perf_counter()
    assert "too large" in refused(validator, token).description
    assert time.perf_counter() - started < 0.5
    assert issuer.jwks_fetches == 0  # refused before anything else


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "a.b",
        "a.b.c.d.e",
        "!!!.eyJ9.sig",
        "eyJhbGciOiJFUzI1NiJ9..sig",
        "eyJhbGciOiJFUzI1NiJ9.e30.",
        "a b.c.d",
        "\u00e9.a.b",
    ],
)
def test_malformed_tokens_are_refused(validator: TokenValidator, token: str) -> None:
    refused(validator, token)


def test_malformed_base64_and_json_are_refused(
    issuer: FakeIssuer, validator: TokenValidator
) -> None:
    good = issuer.mint()
    _, payload, signature = good.split(".")
    refused(validator, f"e.{payload}.{signature}")  # base64 of one char cannot be
    refused(validator, f"{b64(b'{not json')}.{payload}.{signature}")
    refused(validator, f"{b64json(['a'])}.{payload}.{signature}")
    for body in (b"{not json", b"[1, 2]", b'"text"', b"[" * 5000):
        assert "payload" in refused(validator, with_payload(issuer, body)).description


def test_only_canonical_base64url_is_accepted(
    issuer: FakeIssuer, validator: TokenValidator
) -> None:
    token = issuer.mint("EdDSA")
    head, payload, signature = token.split(".")
    validator.validate(token)
    for variant in (
        f"{head}.{payload}.{signature}==",  # padding
        f"{head}.{payload}.{signature[:5]} {signature[5:]}",  # whitespace
        f"{head}.{payload}.{signature[:5]}\n{signature[5:]}",
        f"{head}.{payload}.{signature.replace('-', '+').replace('_', '/')}",  # base64, not url
        f"{head}.{payload}.{signature}.{signature}",  # four segments
        f"{head}.{payload}.{signature[:-1]}!",
    ):
        if variant != token:
            refused(validator, variant)


def test_duplicate_header_members_are_refused(
    issuer: FakeIssuer, validator: TokenValidator
) -> None:
    key = issuer.keys["ES256"]
    header = f'{{"alg":"ES256","typ":"at+jwt","kid":"{key.kid}","alg":"ES256"}}'
    signing_input = f"{b64(header.encode())}.{b64json(issuer.claims())}"
    token = f"{signing_input}.{b64(key.sign(signing_input.encode()))}"
    refused(validator, token)


@pytest.mark.parametrize("crit", [["exp"], ["b64"], [], "x"])
def test_unknown_crit_is_refused(issuer: FakeIssuer, validator: TokenValidator, crit: Any) -> None:
    token = issuer.mint(header={"crit": crit, "exp": 1, "b64": True})
    assert "crit" in refused(validator, token).description


class Revoked:
    blocking = False

    def __init__(self) -> None:
        self.jtis: set[str] = set()
        self.calls = 0

    def is_revoked(self, jti: str) -> bool:
        self.calls += 1
        return jti in self.jtis


def test_revoked_jti_is_refused_even_when_cached(issuer: FakeIssuer) -> None:
    revocation = Revoked()
    v = TokenValidator(issuer.url, AUDIENCE, revocation=revocation)
    try:
        token = issuer.mint(jti="jti-1")
        v.validate(token)
        v.validate(token)
        assert v.cache_hits == 1
        revocation.jtis.add("jti-1")
        assert "revoked" in refused(v, token).description
        assert revocation.calls == 3
        assert v.cache_hits == 2  # the check ran on a cache hit
    finally:
        v.close()


def test_a_failing_revocation_check_refuses_the_token(issuer: FakeIssuer) -> None:
    class Broken:
        def is_revoked(self, jti: str) -> bool:
            raise ConnectionError("down")

    v = TokenValidator(issuer.url, AUDIENCE, revocation=Broken())
    try:
        assert "revocation" in refused(v, issuer.mint()).description
    finally:
        v.close()


def test_token_aware_revocation_gets_token_and_claims(issuer: FakeIssuer) -> None:
    seen: list[tuple[str, str]] = []

    class ByToken:
        def is_revoked(self, jti: str) -> bool:
            raise AssertionError("is_token_revoked is preferred")

        def is_token_revoked(self, token: str, claims: dict[str, Any]) -> bool:
            seen.append((token, claims["jti"]))
            return False

    v = TokenValidator(issuer.url, AUDIENCE, revocation=ByToken())
    try:
        token = issuer.mint(jti="j-9")
        v.validate(token)
        assert seen == [(token, "j-9")]
    finally:
        v.close()


def test_insufficient_scope_is_403_with_the_scope(
    issuer: FakeIssuer, validator: TokenValidator
) -> None:
    token = issuer.mint(scope="read")
    assert validator.validate(token, "read")["scope"] == "read"
    with pytest.raises(TokenError) as caught:
        validator.validate(token, ["read", "write"])
    exc = caught.value
    assert (exc.error, exc.status_code) == ("insufficient_scope", 403)
    assert exc.www_authenticate == (
        f'Bearer realm="{AUDIENCE}", error="insufficient_scope", '
        'error_description="The access token lacks a required scope: read write.", '
        'scope="read write"'
    )
    with pytest.raises(TokenError):
        validator.validate(issuer.mint(scope=None), ["read"])


def test_empty_token_is_401_without_error_code(validator: TokenValidator) -> None:
    with pytest.raises(TokenError) as caught:
        validator.validate("")
    assert caught.value.status_code == 401
    assert caught.value.www_authenticate == f'Bearer realm="{AUDIENCE}"'
    assert caught.value.to_dict() == {}


def test_http_issuer_only_on_loopback() -> None:
    for issuer in ("http://idp.example.test", "http://10.0.0.1:8443", "ftp://x", "idp"):
        with pytest.raises(ConfigError):
            TokenValidator(issuer, AUDIENCE)
    for issuer in ("http://localhost:1", "http://[::1]:1", "https://idp.example.test"):
        TokenValidator(issuer, AUDIENCE).close()


def test_cache_counts_hits_and_expires_with_the_token(issuer: FakeIssuer) -> None:
    clock = FrozenClock(int(time.time()))
    v = TokenValidator(issuer.url, AUDIENCE, clock=clock, leeway=5)
    try:
        token = issuer.mint(exp=clock.now() + 60)
        for _ in range(4):
            v.validate(token)
        assert (v.cache_hits, v.cache_misses) == (3, 1)
        assert v.cache_hit_rate == 0.75
        clock.advance(64)
        v.validate(token)  # within leeway
        clock.advance(1)
        assert "expired" in refused(v, token).description
    finally:
        v.close()


def test_cache_is_bounded(issuer: FakeIssuer) -> None:
    v = TokenValidator(issuer.url, AUDIENCE, cache_size=3)
    try:
        tokens = [issuer.mint() for _ in range(5)]
        for token in tokens:
            v.validate(token)
        v.validate(tokens[0])  # evicted: verified again
        assert v.cache_hits == 0
        v.validate(tokens[4])
        assert v.cache_hits == 1
    finally:
        v.close()


def test_cache_can_be_disabled(issuer: FakeIssuer) -> None:
    v = TokenValidator(issuer.url, AUDIENCE, cache_size=0)
    try:
        token = issuer.mint()
        v.validate(token)
        v.validate(token)
        assert (v.cache_hits, v.cache_misses) == (0, 0)
    finally:
        v.close()


def test_returned_claims_are_a_copy(issuer: FakeIssuer, validator: TokenValidator) -> None:
    token = issuer.mint()
    validator.validate(token)["sub"] = "mallory"
    assert validator.validate(token)["sub"] == "user-1"


async def test_validate_async(issuer: FakeIssuer, validator: TokenValidator) -> None:
    claims = await validator.validate_async(issuer.mint("EdDSA"), ["write"])
    assert claims["scope"] == "read write"
    with pytest.raises(TokenError) as caught:
        await validator.validate_async(issuer.mint(), ["admin"])
    assert caught.value.status_code == 403
    stranger = new_key("ES256")
    with pytest.raises(TokenError):
        await validator.validate_async(compact(issuer.header(stranger), issuer.claims(), stranger))
