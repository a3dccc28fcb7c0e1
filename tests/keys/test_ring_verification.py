"""The key ring reads a token as the validation core does: one canonical spelling, no
JOSE extensions, and whatever the input, None rather than an exception (issue 21)."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.strategies import hostile_python_tokens
from tests.keys.fakes import BOX, NOW, FakeKeyStore
from tollhouse.clock import FrozenClock
from tollhouse.keys import KeyRing
from tollhouse.models import SigningKey

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
CLAIMS = base64.urlsafe_b64encode(b'{"sub":"s"}').rstrip(b"=").decode()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def ring_of(key: SigningKey) -> KeyRing:
    ring = KeyRing(FakeKeyStore(key), BOX, FrozenClock(NOW), alg=key.alg)
    await ring.load()
    return ring


def with_unused_bits(segment: str) -> str:
    """The same bytes spelled with a non-zero unused bit in the last character."""
    last = ALPHABET.index(segment[-1])
    assert len(segment) % 4 in (2, 3), "a segment with unused bits"
    return segment[:-1] + ALPHABET[last | 1]


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
async def test_only_the_canonical_spelling_of_a_token_verifies(
    generated: dict[str, SigningKey], alg: str
) -> None:
    ring = await ring_of(generated[alg])
    token = ring.sign_jwt({"sub": "s", "aud": "c"}, typ="JWT")
    head, payload, signature = token.split(".")
    assert ring.verify_jwt(token) is not None
    standard = signature.replace("-", "+").replace("_", "/")
    variants = [
        f"{head}.{payload}.{standard}",  # the base64 (not url) alphabet
        f"{head}.{payload}.{signature[:10]}!{signature[10:]}",  # a junk character
        f"{head}.{payload}.{signature[:10]}\n{signature[10:]}",
        f"{head}.{payload}.{signature}==",
        f"{head}.{payload}.{signature}A",
    ]
    if len(signature) % 4:
        variants.append(f"{head}.{payload}.{with_unused_bits(signature)}")
    if len(payload) % 4:
        variants.append(f"{head}.{with_unused_bits(payload)}.{signature}")
    for variant in variants:
        if variant != token:
            assert ring.verify_jwt(variant) is None, variant


def signed(ring: KeyRing, key: SigningKey, header: dict[str, object]) -> str:
    """A token under ``header``, signed with ``key`` (the ring's own signer)."""
    signer = ring._state.signers[key.kid]
    signing_input = f"{b64(json.dumps(header).encode())}.{CLAIMS}".encode()
    return f"{signing_input.decode()}.{b64(signer.sign(signing_input))}"


@pytest.mark.parametrize(
    "extra",
    [{"b64": False}, {"b64": True}, {"b64": False, "crit": ["b64"]}, {"crit": ["exp"]}],
)
async def test_jose_extensions_are_refused_even_with_a_valid_signature(
    generated: dict[str, SigningKey], extra: dict[str, object]
) -> None:
    key = generated["ES256"]
    ring = await ring_of(key)
    plain = signed(ring, key, {"alg": "ES256", "kid": key.kid})
    assert ring.verify_jwt(plain) is not None
    assert ring.verify_jwt(signed(ring, key, {"alg": "ES256", "kid": key.kid, **extra})) is None


async def test_a_duplicate_header_member_is_refused(generated: dict[str, SigningKey]) -> None:
    key = generated["ES256"]
    ring = await ring_of(key)
    signer = ring._state.signers[key.kid]
    header = f'{{"alg":"ES256","kid":"{key.kid}","kid":"{key.kid}"}}'.encode()
    signing_input = f"{b64(header)}.{b64(b'{}')}".encode()
    token = f"{signing_input.decode()}.{b64(signer.sign(signing_input))}"
    assert ring.verify_jwt(token) is None


@pytest.mark.parametrize(
    "token",
    [
        b64(b"[" * 1000 + b"]" * 1000) + ".e30." + "A" * 86,
        b64(b'{"a":' * 1000 + b"1" + b"}" * 1000) + ".e30." + "A" * 86,
        "eyJ\ud800.e30.AAAA",
        "\udcff.\udcff.\udcff",
        "é.e30.AAAA",
        "..",
        "e30.e30.",
    ],
)
async def test_crafted_tokens_are_refused_without_an_exception(
    generated: dict[str, SigningKey], token: str
) -> None:
    ring = await ring_of(generated["ES256"])
    assert ring.verify_jwt(token) is None


async def test_a_deeply_nested_payload_is_refused(generated: dict[str, SigningKey]) -> None:
    key = generated["ES256"]
    ring = await ring_of(key)
    signer = ring._state.signers[key.kid]
    header = json.dumps({"alg": "ES256", "kid": key.kid}).encode()
    signing_input = f"{b64(header)}.{b64(b'[' * 5000 + b']' * 5000)}".encode()
    token = f"{signing_input.decode()}.{b64(signer.sign(signing_input))}"
    assert ring.verify_jwt(token) is None


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(token=hostile_python_tokens)
async def test_hostile_tokens_verify_to_none(generated: dict[str, SigningKey], token: str) -> None:
    ring = await ring_of(generated["ES256"])
    assert ring.verify_jwt(token) is None
