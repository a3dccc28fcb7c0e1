"""The proof checker's cache of checked DPoP headers: bounded, one entry per exact
header, and never a way around the signature of the proof at hand."""

from __future__ import annotations

import asyncio
import contextlib
import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.e2e.dpop_proofs import ProofKey
from tollhouse.errors import InvalidDpopProof
from tollhouse.resource.dpop import MemoryReplayCache, Proof, ProofChecker
from tollhouse.resource.jwk import PROOF_ALGS
from tollhouse.resource.proof_keys import MAX_CACHED_HEADER, ProofKeyCache

URL = "https://api.example.test/readings"
NOW = 2_000_000_000


def checker(algs: tuple[str, ...] = PROOF_ALGS) -> ProofChecker:
    return ProofChecker(MemoryReplayCache(), algs=algs, now=lambda: NOW)


async def check(checker: ProofChecker, proof: str) -> Proof:
    return await checker.check([proof], method="GET", url=URL)


def head(proof: str) -> str:
    return proof.split(".")[0]


def test_the_cache_keeps_the_most_recently_used_headers() -> None:
    keys = [ProofKey() for _ in range(3)]
    segments = [head(key.proof("GET", URL)) for key in keys]
    cache = ProofKeyCache(PROOF_ALGS, size=2)
    cache.remember(segments[0], cache.check(segments[0]))
    cache.remember(segments[1], cache.check(segments[1]))
    assert cache.lookup(segments[0]) is not None  # now the most recently used
    cache.remember(segments[2], cache.check(segments[2]))
    assert len(cache) == 2
    assert cache.lookup(segments[1]) is None
    found = [cache.lookup(segments[0]), cache.lookup(segments[2])]
    assert [h.jkt if h else None for h in found] == [keys[0].jkt, keys[2].jkt]


def test_a_cache_of_no_entries_is_refused() -> None:
    with pytest.raises(ValueError):
        ProofKeyCache(PROOF_ALGS, size=0)


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "PS256"])
async def test_proofs_by_different_keys_keep_their_own_thumbprint(alg: str) -> None:
    proof_checker = checker()
    keys = [ProofKey(alg), ProofKey(alg)]
    for _ in range(2):  # the second round is served from the cache
        for key in keys:
            assert (await check(proof_checker, key.proof("GET", URL, iat=NOW))).jkt == key.jkt
    assert len(proof_checker._keys) == 2


async def test_a_known_header_signed_by_another_key_is_refused() -> None:
    """The header (and so the jwk and thumbprint) of a key whose proofs were accepted,
    on a proof signed by the attacker's key: the cached key still checks the signature."""
    victim, attacker = ProofKey(), ProofKey()
    proof_checker = checker()
    await check(proof_checker, victim.proof("GET", URL, iat=NOW))
    forged = victim.proof("GET", URL, iat=NOW, signer=attacker)
    assert proof_checker._keys.lookup(head(forged)) is not None
    with pytest.raises(InvalidDpopProof, match="signature does not verify"):
        await check(proof_checker, forged)


async def test_a_lookalike_header_signed_by_another_key_is_refused() -> None:
    """Another spelling of the victim's header (extra jwk members, same thumbprint)."""
    victim, attacker = ProofKey(), ProofKey()
    proof_checker = checker()
    await check(proof_checker, victim.proof("GET", URL, iat=NOW))
    lookalike = {"jwk": {**victim.jwk, "kid": attacker.jkt, "use": "sig"}}
    forged = victim.proof("GET", URL, iat=NOW, header=lookalike, signer=attacker)
    with pytest.raises(InvalidDpopProof, match="signature does not verify"):
        await check(proof_checker, forged)
    genuine = victim.proof("GET", URL, iat=NOW, header=lookalike)
    assert (await check(proof_checker, genuine)).jkt == victim.jkt


async def test_only_headers_of_good_signatures_are_kept() -> None:
    victim, attacker = ProofKey(), ProofKey()
    proof_checker = checker()
    with pytest.raises(InvalidDpopProof):
        await check(proof_checker, victim.proof("GET", URL, iat=NOW, signer=attacker))
    assert len(proof_checker._keys) == 0


async def test_a_long_header_is_checked_but_not_kept() -> None:
    key = ProofKey()
    padded = key.proof("GET", URL, iat=NOW, header={"pad": "x" * MAX_CACHED_HEADER})
    assert (await check(proof_checker := checker(), padded)).jkt == key.jkt
    assert len(proof_checker._keys) == 0


async def test_each_checker_keeps_its_own_alg_list() -> None:
    key = ProofKey("ES256")
    await check(checker(), key.proof("GET", URL, iat=NOW))
    with pytest.raises(InvalidDpopProof, match="alg is not supported"):
        await check(checker(("EdDSA",)), key.proof("GET", URL, iat=NOW))


_FUZZ_KEY = ProofKey()
_WARM_UP = _FUZZ_KEY.proof("GET", URL, iat=NOW)
_FUZZ_PROOF = _FUZZ_KEY.proof("GET", URL, iat=NOW, jti=secrets.token_urlsafe(16))


@settings(max_examples=300, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=len(_FUZZ_PROOF) - 1),
    replacement=st.text(min_size=0, max_size=3),
)
def test_a_spoiled_proof_with_a_known_header_is_refused(position: int, replacement: str) -> None:
    """Any edit of a proof whose header is cached is refused, unless it changed nothing."""
    spoiled = _FUZZ_PROOF[:position] + replacement + _FUZZ_PROOF[position + 1 :]
    proof_checker = checker()
    asyncio.run(check(proof_checker, _WARM_UP))
    accepted = False
    with contextlib.suppress(InvalidDpopProof):
        asyncio.run(check(proof_checker, spoiled))
        accepted = True
    assert not accepted or spoiled.strip() == _FUZZ_PROOF
