"""JWKS caching against a fake issuer: fetched once, refreshed early, re-fetched rarely."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.resource.conftest import AUDIENCE, FakeIssuer, compact, new_key
from tollhouse.errors import ConfigError
from tollhouse.resource import TokenError, TokenValidator
from tollhouse.resource.jwk import UnusableKey, parse_jwk
from tollhouse.resource.jwks import JwksCache


@pytest.fixture
def validator(issuer: FakeIssuer) -> Iterator[TokenValidator]:
    v = TokenValidator(issuer.url, AUDIENCE, cache_size=0, jwks_refetch_interval=0.5)
    yield v
    v.close()


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def forged(issuer: FakeIssuer) -> str:
    stranger = new_key("EdDSA")
    return compact(issuer.header(stranger), issuer.claims(), stranger)


def test_keys_are_fetched_once_not_per_request(
    issuer: FakeIssuer, validator: TokenValidator
) -> None:
    for alg in ("ES256", "RS256", "EdDSA") * 20:
        validator.validate(issuer.mint(alg))
    assert (issuer.discovery_fetches, issuer.jwks_fetches) == (1, 1)


def test_prefetch_loads_keys_before_the_first_request(issuer: FakeIssuer) -> None:
    v = TokenValidator(issuer.url, AUDIENCE)
    try:
        v.prefetch()
        assert issuer.jwks_fetches == 1
        v.validate(issuer.mint())
        assert issuer.jwks_fetches == 1
    finally:
        v.close()


def test_prefetch_says_why_it_failed(issuer: FakeIssuer) -> None:
    issuer.down = True
    v = TokenValidator(issuer.url, AUDIENCE)
    try:
        with pytest.raises(ConfigError, match="503"):
            v.prefetch()
    finally:
        v.close()


def test_a_new_key_is_picked_up_through_its_unknown_kid(
    issuer: FakeIssuer, validator: TokenValidator
) -> None:
    validator.validate(issuer.mint())
    rotated = new_key("ES256")
    issuer.published.append(rotated)
    validator.validate(compact(issuer.header(rotated), issuer.claims(), rotated))
    assert issuer.jwks_fetches == 2
    assert issuer.discovery_fetches == 1  # a kid re-fetch reads only the JWKS


def test_forged_kid_flood_causes_at_most_one_refetch_per_interval(
    issuer: FakeIssuer, validator: TokenValidator
) -> None:
    validator.validate(issuer.mint())
    started = time.monotonic()
    refused = 0
    while time.monotonic() - started < 1.2:
        with pytest.raises(TokenError):
            validator.validate(forged(issuer))
        refused += 1
    elapsed = time.monotonic() - started
    assert refused > 50
    refetches = issuer.jwks_fetches - 1
    assert 1 <= refetches <= int(elapsed / 0.5) + 1


async def test_forged_kid_flood_async_is_rate_limited_too(
    issuer: FakeIssuer, validator: TokenValidator
) -> None:
    await validator.validate_async(issuer.mint())
    started = time.monotonic()
    for _ in range(100):
        with pytest.raises(TokenError):
            await validator.validate_async(forged(issuer))
    elapsed = time.monotonic() - started
    assert 2 <= issuer.jwks_fetches <= 2 + int(elapsed / 0.5)


async def test_refused_kids_go_to_a_thread_only_when_a_refetch_may_look(
    issuer: FakeIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tokens of another issuer name kids this one never publishes: while the re-fetch
    is rate-limited they are refused on the event loop, not sent to a thread to learn
    nothing; a key the issuer starts to publish is still found once it may look."""
    handed: list[object] = []
    to_thread = asyncio.to_thread

    async def counted(func: Any, /, *args: Any) -> Any:
        handed.append(func)
        return await to_thread(func, *args)

    monkeypatch.setattr(asyncio, "to_thread", counted)
    validator = TokenValidator(issuer.url, AUDIENCE, cache_size=0, jwks_refetch_interval=1.0)
    try:
        await validator.validate_async(issuer.mint())  # the first load
        stranger = new_key("ES256")
        other = compact(issuer.header(stranger), issuer.claims(), stranger)
        for _ in range(20):
            with pytest.raises(TokenError) as refused:
                await validator.validate_async(other)
            assert refused.value.check == "kid"
        # The first unknown kid looked (one thread, one fetch); the others did not.
        assert len(handed) == 2 and issuer.jwks_fetches == 2

        issuer.published.append(stranger)  # the issuer rotates that key in
        await asyncio.sleep(1.0)
        assert (await validator.validate_async(other))["sub"] == "user-1"
        assert len(handed) == 3 and issuer.jwks_fetches == 3
    finally:
        validator.close()


def test_keys_are_refreshed_in_the_background_before_expiry(issuer: FakeIssuer) -> None:
    v = TokenValidator(issuer.url, AUDIENCE, jwks_ttl=1, cache_size=0)
    try:
        v.validate(issuer.mint())
        time.sleep(0.85)  # past 80 % of the ttl
        issuer.delay = 1.0  # a slow IdP: the refresh takes a second
        started = time.perf_counter()
        v.validate(issuer.mint())
        assert time.perf_counter() - started < 0.5  # did not wait for the fetch
        wait_for(lambda: issuer.jwks_fetches == 2)
        assert issuer.discovery_fetches == 2  # a refresh re-reads discovery too
    finally:
        v.close()


def test_stale_keys_serve_with_a_warning_while_the_issuer_is_down(
    issuer: FakeIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    v = TokenValidator(issuer.url, AUDIENCE, jwks_ttl=1, cache_size=0, jwks_refetch_interval=0.5)
    try:
        v.validate(issuer.mint())
        issuer.down = True
        time.sleep(1.05)  # past the ttl: stale
        with caplog.at_level(logging.WARNING, logger="tollhouse.resource"):
            v.validate(issuer.mint())
            wait_for(lambda: any("serving keys" in r.getMessage() for r in caplog.records))
        time.sleep(1.0)  # past ttl + max_stale (= ttl): too old to trust
        with pytest.raises(TokenError, match="unavailable"):
            v.validate(issuer.mint())
        issuer.down = False
        time.sleep(0.6)  # the failed attempt is not retried before refetch_interval
        v.validate(issuer.mint())
    finally:
        v.close()


def test_unreachable_issuer_at_start_fails_closed_without_a_retry_storm(
    issuer: FakeIssuer,
) -> None:
    issuer.down = True
    v = TokenValidator(issuer.url, AUDIENCE, jwks_refetch_interval=30)
    try:
        for _ in range(20):
            with pytest.raises(TokenError, match="unavailable") as caught:
                v.validate(issuer.mint())
            assert caught.value.status_code == 401
        assert issuer.requests == 2  # one attempt: the two well-known locations
        assert v.jwks.last_error is not None and "503" in v.jwks.last_error
    finally:
        v.close()


def test_discovery_must_name_the_same_issuer(issuer: FakeIssuer) -> None:
    issuer.extra_metadata = {"issuer": "http://127.0.0.1:1"}
    cache = JwksCache(issuer.url)
    with pytest.raises(Exception, match="expected"):
        cache.load()
    cache.close()


def test_jwks_uri_must_be_https_off_loopback(issuer: FakeIssuer) -> None:
    issuer.extra_metadata = {"jwks_uri": "http://keys.example.test/jwks.json"}
    cache = JwksCache(issuer.url)
    with pytest.raises(Exception, match="https"):
        cache.load()
    cache.close()


def test_a_removed_key_stops_cached_tokens_after_refresh(issuer: FakeIssuer) -> None:
    v = TokenValidator(issuer.url, AUDIENCE, jwks_ttl=1)
    try:
        token = issuer.mint("RS256")
        v.validate(token)
        issuer.published = [k for k in issuer.published if k.alg != "RS256"]
        time.sleep(0.85)
        v.validate(issuer.mint())  # starts the background refresh
        wait_for(lambda: issuer.jwks_fetches == 2)
        wait_for(lambda: "RS256" not in {k.alg for k in v.jwks.current().keys.values()})  # type: ignore[union-attr]
        with pytest.raises(TokenError):
            v.validate(token)
    finally:
        v.close()


def test_duplicate_kids_are_ignored(issuer: FakeIssuer) -> None:
    twin = new_key("ES256")
    twin.kid = issuer.keys["ES256"].kid
    issuer.published.append(twin)
    v = TokenValidator(issuer.url, AUDIENCE)
    try:
        with pytest.raises(TokenError, match="unknown key"):
            v.validate(issuer.mint("ES256"))
        v.validate(issuer.mint("EdDSA"))
    finally:
        v.close()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"kid": None}, "kid"),
        ({"use": "enc"}, "signatures"),
        ({"key_ops": ["encrypt"]}, "verify"),
        ({"alg": "HS256"}, "unsupported"),
        ({"alg": "RS256"}, "do not fit"),
        ({"x": "AAAA"}, "malformed"),
        ({"y": "A" * 43}, "malformed"),  # not on the curve
        ({"d": "secret"}, "private"),
    ],
)
def test_unusable_jwks_entries_are_refused(
    signing_keys: dict[str, Any], change: dict[str, Any], reason: str
) -> None:
    jwk = {**signing_keys["ES256"].jwk(), **change}
    jwk = {k: v for k, v in jwk.items() if v is not None}
    with pytest.raises(UnusableKey, match=reason):
        parse_jwk(jwk)


def test_short_rsa_keys_are_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.resource.conftest import SigningKey

    weak = SigningKey("RS256", rsa.generate_private_key(65537, 1024))
    with pytest.raises(UnusableKey, match="2048"):
        parse_jwk(weak.jwk())


def test_alg_is_inferred_when_the_jwk_has_none(signing_keys: dict[str, Any]) -> None:
    for alg, key in signing_keys.items():
        jwk = {k: v for k, v in key.jwk().items() if k != "alg"}
        assert parse_jwk(jwk).alg == alg
