"""Sign-in lockout over the real login form (issue 21.8): failures count per account
and address, with progressive delays, and a much higher account-wide threshold, so
strangers failing on purpose cannot lock the owner out of an account.

The server here locks an address for 2 s at first, doubling up to 4 s, and an account
after 30 failures, so the delays can be watched without waiting minutes; the defaults
(5 per address, 30 s doubling to 15 min, 50 per account) are checked in
tests/security/test_login_guard.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import (
    HASHER,
    Seed,
    Server,
    free_port,
    seed_database,
    start_server,
    stop,
)
from tests.e2e.flows import code_params, pkce_pair
from tests.e2e.forms import parse
from tollhouse.models import User
from tollhouse.randomness import identifier
from tollhouse.storage.sql.storage import open_storage

REDIS_URL = os.environ.get("TOLLHOUSE_TEST_REDIS", "redis://127.0.0.1:6379/0")
LOCKOUT_ENV = {
    "TOLLHOUSE_LOGIN_LOCKOUT_TIME": "2",
    "TOLLHOUSE_LOGIN_LOCKOUT_MAX_TIME": "4",
    "TOLLHOUSE_LOGIN_LOCKOUT_PER_ACCOUNT": "30",
}
OTHER_USER = "dave"
"""A second account, hashed at the tests' cost like the seed's (fast to check)."""
GUESSED_USER = "erin"
"""An account nobody signs in to: a correct sign-in re-hashes a password at the
production cost, which would make each further check of it slow enough to blur the
lock times measured against it."""


async def add_user(database_url: str, username: str) -> None:
    storage = await open_storage(database_url)
    try:
        now = int(time.time())
        await storage.add_user(User(identifier(16), username, HASHER.hash("dave's own"), now))
    finally:
        await storage.close()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("lockout-idp")
    database_url = f"sqlite:///{data_dir / 'tollhouse.db'}"
    seed = Seed()
    asyncio.run(seed_database(database_url, seed))
    asyncio.run(add_user(database_url, OTHER_USER))
    asyncio.run(add_user(database_url, GUESSED_USER))
    port = free_port()
    process, log_path = start_server(data_dir, port, env=LOCKOUT_ENV)
    try:
        yield Server(f"http://127.0.0.1:{port}", data_dir, database_url, seed, process, log_path)
    finally:
        stop(process)


class Browser:
    """One browser at one loopback address, with a sign-in form open."""

    def __init__(self, server: Server, address: str) -> None:
        transport = httpx.HTTPTransport(local_address=address)
        self.http = httpx.Client(base_url=server.base_url, transport=transport, timeout=20)
        _, challenge = pkce_pair()
        page = self.http.get(
            "/authorize",
            params=code_params(server.seed, challenge),
            follow_redirects=True,
        )
        assert page.status_code == 200, page.text
        form = parse(page.text).forms[0]
        self.action, self.inputs = form.action or "/login", dict(form.inputs)

    def sign_in(self, username: str, password: str) -> httpx.Response:
        data = {**self.inputs, "username": username, "password": password}
        return self.http.post(self.action, data=data)

    def close(self) -> None:
        self.http.close()


def attempt(server: Server, address: str, username: str, password: str) -> httpx.Response:
    browser = Browser(server, address)
    try:
        return browser.sign_in(username, password)
    finally:
        browser.close()


def signed_in(response: httpx.Response) -> bool:
    return response.status_code in (302, 303) and "/consent" in response.headers["location"]


def assert_locked(response: httpx.Response, lock: int) -> None:
    """Refused while a ``lock``-second lock runs: ``Retry-After`` is what is left of it
    (whole seconds, rounded up), however long the request took to arrive."""
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= lock
    assert "Too many sign-in attempts" in response.text
    assert parse(response.text).forms, "the page keeps the sign-in form"


def test_the_owner_signs_in_from_a_new_address_after_failures_from_ten_others(
    guarded: Server,
) -> None:
    seed = guarded.seed
    failures = [
        attempt(guarded, f"127.0.0.{n}", seed.username, "wrong password") for n in range(2, 12)
    ]
    assert [r.status_code for r in failures] == [400] * 10

    assert signed_in(attempt(guarded, "127.0.0.12", seed.username, seed.password))


def test_an_address_locks_after_five_failures_for_a_growing_time(guarded: Server) -> None:
    seed = guarded.seed
    at_one_address = Browser(guarded, "127.0.0.20")
    try:
        wrong = [at_one_address.sign_in(seed.username, "wrong password") for _ in range(5)]
        assert [r.status_code for r in wrong] == [400] * 5
        # Locked at this address, even for the right password ...
        assert_locked(at_one_address.sign_in(seed.username, seed.password), 2)
    finally:
        at_one_address.close()
    # ... while the owner elsewhere signs in.
    assert signed_in(attempt(guarded, "127.0.0.21", seed.username, seed.password))

    # Each failure past the fifth doubles the lock, up to the longest (4 s here).
    guesser = Browser(guarded, "127.0.0.22")
    try:
        wrong = [guesser.sign_in(GUESSED_USER, "guess").status_code for _ in range(5)]
        assert wrong == [400] * 5
        first = guesser.sign_in(GUESSED_USER, "guess")
        assert_locked(first, 2)
        time.sleep(int(first.headers["retry-after"]) + 0.1)
        assert guesser.sign_in(GUESSED_USER, "guess").status_code == 400
        doubled = guesser.sign_in(GUESSED_USER, "guess")
        assert_locked(doubled, 4)
        assert int(doubled.headers["retry-after"]) > 2  # doubled, not the first lock again
        time.sleep(int(doubled.headers["retry-after"]) + 0.1)
        assert guesser.sign_in(GUESSED_USER, "guess").status_code == 400
        capped = guesser.sign_in(GUESSED_USER, "guess")
        assert_locked(capped, 4)
    finally:
        guesser.close()

    lines = [json.loads(line) for line in guarded.logs().splitlines() if "login_locked" in line]
    assert {line["scope"] for line in lines} == {"address"}
    assert not any(seed.username in json.dumps(line) for line in lines)
    assert not any(GUESSED_USER in json.dumps(line) for line in lines)


def test_an_account_locks_everywhere_past_its_own_threshold(guarded: Server) -> None:
    """A guesser spreading over many addresses is stopped by the account-wide count."""
    statuses = [
        attempt(guarded, f"127.0.1.{n}", OTHER_USER, "guess").status_code
        for n in range(1, 7)
        for _ in range(5)
    ]
    assert statuses == [400] * 30
    assert_locked(attempt(guarded, "127.0.1.99", OTHER_USER, "dave's own"), 2)
    lines = [json.loads(line) for line in guarded.logs().splitlines() if "login_locked" in line]
    assert "account" in {line["scope"] for line in lines}


# Two instances sharing the counts through Redis ----------------------------------------


@pytest.fixture
def redis_url() -> str:
    import redis
    import redis.exceptions

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, OSError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required under CI but {REDIS_URL} is unreachable: {exc!r}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    finally:
        client.close()
    return REDIS_URL


@pytest.mark.slow
def test_the_counts_are_shared_by_two_instances_through_redis(
    tmp_path: Path, redis_url: str
) -> None:
    """Failures at one instance count at the other: the load balancer cannot be used to
    multiply the attempts (each run guesses for an account of its own: the counts are
    shared with every earlier run through Redis)."""
    seed = Seed()
    database_url = f"sqlite:///{tmp_path / 'tollhouse.db'}"
    asyncio.run(seed_database(database_url, seed))
    name = f"shared-{secrets.token_hex(4)}"
    asyncio.run(add_user(database_url, name))
    servers = []
    try:
        for _ in range(2):
            port = free_port()
            process, log_path = start_server(tmp_path, port, "--redis", redis_url)
            base_url = f"http://127.0.0.1:{port}"
            servers.append(Server(base_url, tmp_path, "", seed, process, log_path))
        statuses = [
            attempt(servers[n % 2], "127.0.3.1", name, "guess").status_code for n in range(5)
        ]
        assert statuses == [400] * 5
        for server in servers:
            assert attempt(server, "127.0.3.1", name, "guess").status_code == 429
            assert attempt(server, "127.0.3.2", name, "guess").status_code == 400
    finally:
        for server in servers:
            stop(server.process)
