"""RedisRevocationList against a real Redis at 127.0.0.1:6379."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator

import pytest
import redis

from tests.e2e.conftest import free_port
from tests.resource.conftest import AUDIENCE, FakeIssuer
from tollhouse.resource import (
    RedisRevocationList,
    RevocationUnavailable,
    TokenError,
    TokenValidator,
)
from tollhouse.resource.revocation import REDIS_PREFIX

URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def prefix() -> Iterator[str]:
    client = redis.Redis.from_url(URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is not reachable at {URL} in CI: {exc}")
        pytest.skip(f"Redis is not reachable at {URL}: {exc}")
    unique = f"tollhouse-test:{secrets.token_hex(6)}:revoked:"
    try:
        yield unique
    finally:
        keys = list(client.scan_iter(match=unique + "*"))
        if keys:
            client.delete(*keys)
        client.close()


def revoke(prefix: str, jti: str, ttl: int = 60) -> None:
    with redis.Redis.from_url(URL) as client:
        client.set(prefix + jti, b"1", ex=ttl)


def test_default_key_format() -> None:
    assert REDIS_PREFIX == "tollhouse:revoked:"


def test_present_key_means_revoked(prefix: str) -> None:
    revocations = RedisRevocationList(URL, prefix=prefix, cache_ttl=0)
    try:
        assert not revocations.is_revoked("j1")
        revoke(prefix, "j1")
        assert revocations.is_revoked("j1")
        assert not revocations.is_revoked("j2")
    finally:
        revocations.close()


def test_negative_answers_are_cached_briefly(prefix: str) -> None:
    revocations = RedisRevocationList(URL, prefix=prefix, cache_ttl=0.3)
    try:
        assert not revocations.is_revoked("j1")
        revoke(prefix, "j1")
        assert not revocations.is_revoked("j1")  # cached "no" for cache_ttl
        time.sleep(0.35)
        assert revocations.is_revoked("j1")
    finally:
        revocations.close()


def test_validator_refuses_a_token_revoked_in_redis(issuer: FakeIssuer, prefix: str) -> None:
    revocations = RedisRevocationList(URL, prefix=prefix, cache_ttl=0)
    validator = TokenValidator(issuer.url, AUDIENCE, revocation=revocations)
    try:
        token = issuer.mint(jti="j-redis")
        validator.validate(token)
        revoke(prefix, "j-redis")
        with pytest.raises(TokenError, match="revoked"):
            validator.validate(token)
    finally:
        validator.close()
        revocations.close()


async def test_async_validation_checks_redis_off_the_loop(issuer: FakeIssuer, prefix: str) -> None:
    revocations = RedisRevocationList(URL, prefix=prefix, cache_ttl=0)
    validator = TokenValidator(issuer.url, AUDIENCE, revocation=revocations)
    try:
        token = issuer.mint(jti="j-async")
        await validator.validate_async(token)
        revoke(prefix, "j-async")
        with pytest.raises(TokenError, match="revoked"):
            await validator.validate_async(token)
    finally:
        validator.close()
        revocations.close()


def test_unreachable_redis_fails_closed_unless_told_otherwise(issuer: FakeIssuer) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    closed = RedisRevocationList(url, timeout=0.2)
    with pytest.raises(RevocationUnavailable):
        closed.is_revoked("j")
    validator = TokenValidator(issuer.url, AUDIENCE, revocation=closed)
    try:
        with pytest.raises(TokenError, match="revocation status"):
            validator.validate(issuer.mint())
    finally:
        validator.close()
    assert RedisRevocationList(url, timeout=0.2, fail_open=True).is_revoked("j") is False
