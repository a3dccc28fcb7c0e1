"""JOSE strictness of the validation core (issue 21, item 14): one spelling per token, no
unencoded payloads, scopes split on spaces only, a header cache only verified headers
enter, no small-order Ed25519 keys, and the Python API raises only ``TokenError``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.strategies import hostile_python_tokens
from tests.resource.conftest import AUDIENCE, FakeIssuer, b64, b64json
from tollhouse.resource import TokenError, TokenValidator
from tollhouse.resource.jwk import UnusableKey, b64decode, parse_jwk
from tollhouse.resource.keyset import parse_keys

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SMALL_ORDER_ED25519 = [
    "00" * 32,
    "00" * 31 + "80",
    "01" + "00" * 31,
    "ec" + "ff" * 30 + "7f",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    # Non-canonical spellings of y = 0 and y = 1 (y >= p).
    "ed" + "ff" * 30 + "7f",
    "ee" + "ff" * 30 + "7f",
]
"""The eight Ed25519 points of small order (orders 1, 2, 4 and 8) and two more spellings."""


@pytest.fixture
def validator(issuer: FakeIssuer) -> Iterator[TokenValidator]:
    v = TokenValidator(issuer.url, AUDIENCE)
    yield v
    v.close()


def refused(validator: TokenValidator, token: str, required: tuple[str, ...] = ()) -> TokenError:
    with pytest.raises(TokenError) as caught:
        validator.validate(token, required)
    return caught.value


def respelled(segment: str) -> list[str]:
    """Every other spelling of ``segment``'s bytes: its last character with unused bits set."""
    unused = {2: 4, 3: 2}.get(len(segment) % 4, 0)
    last = ALPHABET.index(segment[-1])
    return [segment[:-1] + ALPHABET[last | bits] for bits in range(1, 1 << unused)]


@pytest.mark.parametrize(("size", "spellings"), [(1, 16), (2, 4), (32, 4), (64, 16), (3, 1)])
def test_decoder_accepts_one_spelling_of_each_byte_string(size: int, spellings: int) -> None:
    """A 43-character base64url of 32 bytes has 2 unused bits, 86 of 64 bytes has 4."""
    segment = b64(bytes(range(1, size + 1)))
    others = respelled(segment)
    assert len(others) + 1 == spellings
    assert b64decode(segment) == bytes(range(1, size + 1))
    for other in others:
        with pytest.raises(ValueError):
            b64decode(other)


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_unused_low_bits_give_a_token_no_second_spelling(
    issuer: FakeIssuer, validator: TokenValidator, alg: str
) -> None:
    token = issuer.mint(alg)
    head, payload, signature = token.split(".")
    validator.validate(token)
    variants = [f"{head}.{payload}.{other}" for other in respelled(signature)]
    variants += [f"{head}.{other}.{signature}" for other in respelled(payload)]
    variants += [f"{other}.{payload}.{signature}" for other in respelled(head)]
    for variant in variants:
        assert refused(validator, variant).error == "invalid_token"


@pytest.mark.parametrize("b64_value", [False, True, "false", 0])
def test_a_b64_header_is_refused_without_crit(
    issuer: FakeIssuer, validator: TokenValidator, b64_value: object
) -> None:
    """RFC 7797: with "b64": false the signature covers the raw payload; nothing here
    reads tokens that way, so the header is refused rather than misread."""
    error = refused(validator, issuer.mint(header={"b64": b64_value}))
    assert error.check == "crit" and "b64" in error.description


@pytest.mark.parametrize(
    "token", ["eyJ\ud800.e30.AAAA", "\udcff", "a.b.\ud83d", "\U0001f600.e30.AAAA"]
)
def test_a_lone_surrogate_raises_token_error_from_the_python_api(
    validator: TokenValidator, token: str
) -> None:
    assert refused(validator, token).error == "invalid_token"


async def test_a_lone_surrogate_raises_token_error_from_validate_async(
    validator: TokenValidator,
) -> None:
    with pytest.raises(TokenError):
        await validator.validate_async("eyJ\ud800.e30.AAAA")


@pytest.mark.parametrize("separator", ["\u00a0", "\t", "\n", "\u2003", "\x0b"])
def test_scopes_are_split_on_spaces_only(
    issuer: FakeIssuer, validator: TokenValidator, separator: str
) -> None:
    """RFC 6749 §3.3: scope tokens are delimited by %x20; `read<NBSP>admin` is one
    (odd) token, not a grant of `admin`."""
    token = issuer.mint(scope=f"read{separator}admin")
    assert refused(validator, token, ("admin",)).error == "insufficient_scope"
    assert refused(validator, token, ("read",)).error == "insufficient_scope"
    assert validator.validate(issuer.mint(scope="read  admin "), ("admin", "read"))


def test_only_verified_headers_enter_the_header_cache(
    issuer: FakeIssuer, validator: TokenValidator
) -> None:
    """Forged tokens with ever new headers (each one valid as a header) could fill the
    cache and keep the real header out of it; only a verified signature lets one in."""
    good = issuer.mint()
    head, payload, signature = good.split(".")
    key = issuer.keys["ES256"]
    for n in range(100):
        forged_head = b64json(issuer.header(key, n=n))
        assert refused(validator, f"{forged_head}.{payload}.{signature}").check == "signature"
    keyset = validator.keys.current()
    assert keyset is not None and keyset.headers == {}
    validator.validate(good)
    assert list(keyset.headers) == [head]


def ed25519_jwk(hex_point: str) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "kid": "small", "x": b64(bytes.fromhex(hex_point))}


@pytest.mark.parametrize("point", SMALL_ORDER_ED25519)
def test_small_order_ed25519_keys_are_refused(point: str) -> None:
    with pytest.raises(UnusableKey, match="small order"):
        parse_jwk(ed25519_jwk(point))
    assert parse_keys([ed25519_jwk(point)], frozenset({"EdDSA"})) == {}


def test_a_jwks_keeps_its_usable_keys_beside_a_small_order_one(issuer: FakeIssuer) -> None:
    real = issuer.keys["EdDSA"].jwk()
    keys = parse_keys([ed25519_jwk(SMALL_ORDER_ED25519[0]), real], frozenset({"EdDSA"}))
    assert list(keys) == [real["kid"]]


class Revoked:
    blocking = False

    def __init__(self) -> None:
        self.jtis: set[str] = set()

    def is_revoked(self, jti: str) -> bool:
        return jti in self.jtis


def test_replay_lists_are_keyed_by_jti_as_es256_signatures_are_malleable(
    issuer: FakeIssuer,
) -> None:
    """ECDSA signatures are malleable by design: (r, s) and (r, n - s) both verify, so
    one ES256 token has two valid spellings, each a different string. Replay and
    revocation lists must therefore key on the jti claim, never on the token's bytes."""
    token = issuer.mint("ES256", jti="jti-malleable")
    head, payload, signature = token.split(".")
    raw = b64decode(signature)
    r, s = int.from_bytes(raw[:32]), int.from_bytes(raw[32:])
    twin = f"{head}.{payload}.{b64(r.to_bytes(32) + (P256_ORDER - s).to_bytes(32))}"
    assert twin != token
    revocation = Revoked()
    v = TokenValidator(issuer.url, AUDIENCE, revocation=revocation)
    try:
        assert v.validate(token)["jti"] == v.validate(twin)["jti"] == "jti-malleable"
        revocation.jtis.add("jti-malleable")
        for spelling in (token, twin):
            assert "revoked" in refused(v, spelling).description
    finally:
        v.close()


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(token=hostile_python_tokens)
def test_hostile_tokens_raise_only_token_error(issuer: FakeIssuer, token: str) -> None:
    """Deep nesting and lone surrogates, in the string or inside its segments."""
    v = TokenValidator(issuer.url, AUDIENCE)
    try:
        with pytest.raises(TokenError):
            v.validate(token)
    finally:
        v.close()
