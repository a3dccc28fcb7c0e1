"""RedisRevocationList against a real Redis at 127.0.0.1:6379."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.e2e.conftest import SENSORS, Seed, Server, free_port, seed_database, start_server, stop
from tests.resource.conftest import AUDIENCE, FakeIssuer, issue_token
from tollhouse.resource import (
    RedisRevocationList,
    RevocationUnavailable,
    TokenError,
    TokenValidator,
)
from tollhouse.resource.revocation import REDIS_PREFIX

URL = "redis://127.0.0.1:6379/0"


IDP_URL = "redis://127.0.0.1:6379/15"
"""The IdP test below writes its own (expiring) keys; a database of their own."""


def require_redis(url: str) -> redis.Redis:
    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is not reachable at {url} in CI: {exc}")
        pytest.skip(f"Redis is not reachable at {url}: {exc}")
    return client


@pytest.fixture
def prefix() -> Iterator[str]:
    client = require_redis(URL)
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


@pytest.fixture(scope="module")
def redis_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_redis(IDP_URL).close()
    data_dir: Path = tmp_path_factory.mktemp("redis-idp")
    database_url = f"sqlite:///{data_dir / 'tollhouse.db'}"
    seed = Seed()
    asyncio.run(seed_database(database_url, seed))
    port = free_port()
    process, log_path = start_server(data_dir, port, "--redis", IDP_URL)
    try:
        yield Server(f"http://127.0.0.1:{port}", data_dir, database_url, seed, process, log_path)
    finally:
        stop(process)


def test_a_revocation_at_the_idp_is_seen_through_its_redis_at_once(redis_idp: Server) -> None:
    """The IdP writes ``tollhouse:revoked:<jti>``; the resource server reads that key."""
    revocations = RedisRevocationList(IDP_URL, cache_ttl=0)
    validator = TokenValidator(redis_idp.base_url, SENSORS, revocation=revocations)
    token = issue_token(redis_idp)
    jti = validator.validate(token)["jti"]
    try:
        with redis_idp.client() as http:
            response = http.post(
                "/revoke",
                data={"token": token},
                auth=(redis_idp.seed.confidential_id, redis_idp.seed.confidential_secret),
            )
        assert response.status_code == 200, response.text
        with pytest.raises(TokenError, match="revoked"):
            validator.validate(token)
    finally:
        validator.close()
        revocations.close()
        with redis.Redis.from_url(IDP_URL) as client:
            client.delete(REDIS_PREFIX + jti)
