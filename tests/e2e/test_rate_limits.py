"""Rate limits and sign-in brute-force protection over real HTTP on 127.0.0.1 (loopback
is not exempt), with bounded bursts, and shared between two instances through Redis."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import (
    CALLBACK,
    Seed,
    Server,
    free_port,
    seed_database,
    start_server,
    stop,
)
from tests.e2e.flows import code_params, pkce_pair
from tests.e2e.forms import parse

REDIS_URL = os.environ.get("TOLLHOUSE_TEST_REDIS", "redis://127.0.0.1:6379/0")
DEFAULT_LIMITS = {
    # The contract's defaults, spelled out: the shared helper turns request limits off.
    "TOLLHOUSE_RATE_LIMIT_TOKEN": "10/s,burst=20",
    "TOLLHOUSE_RATE_LIMIT_INTROSPECT": "100/s,burst=200",
    "TOLLHOUSE_RATE_LIMIT_REVOKE": "10/s,burst=20",
    "TOLLHOUSE_RATE_LIMIT_REGISTER": "10/min",
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("limited-idp")
    database_url = f"sqlite:///{data_dir / 'tollhouse.db'}"
    seed = Seed()
    asyncio.run(seed_database(database_url, seed))
    port = free_port()
    process, log_path = start_server(data_dir, port, env=DEFAULT_LIMITS)
    try:
        yield Server(f"http://127.0.0.1:{port}", data_dir, database_url, seed, process, log_path)
    finally:
        stop(process)


async def burst(base_url: str, path: str, n: int) -> list[httpx.Response]:
    """``n`` POSTs at once (cheap ones: refused at once for want of client credentials)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=20) as client:
        return list(
            await asyncio.gather(*(client.post(path, data={"grant_type": "x"}) for _ in range(n)))
        )


def test_token_endpoint_allows_a_burst_of_20_then_answers_429(limited: Server) -> None:
    started = time.monotonic()
    responses = asyncio.run(burst(limited.base_url, "/token", 60))
    elapsed = time.monotonic() - started

    passed = [r for r in responses if r.status_code != 429]
    refused = [r for r in responses if r.status_code == 429]
    # A burst of 20, plus what refilled at 10/s while the burst was being answered.
    assert 20 <= len(passed) <= 20 + int(10 * elapsed) + 1, (len(passed), elapsed)
    assert refused
    sample = refused[0]
    assert sample.json()["error"] == "slow_down"
    assert "error_description" in sample.json()
    assert sample.headers["content-type"] == "application/json"
    assert sample.headers["cache-control"] == "no-store"
    retry_after = int(sample.headers["retry-after"])
    assert 1 <= retry_after <= 2

    with limited.client() as http:
        # Another endpoint has its own bucket.
        assert http.post("/introspect", data={"token": "x"}).status_code != 429
        time.sleep(retry_after + 0.1)
        assert http.post("/token", data={"grant_type": "x"}).status_code == 401
    assert '"event":"rate_limited"' in limited.logs()


def test_registration_endpoint_is_limited_per_ip(limited: Server) -> None:
    with limited.client() as http:
        statuses = [
            http.post("/register", content=json.dumps({"redirect_uris": [CALLBACK]})).status_code
            for _ in range(11)
        ]
        management = http.get("/register/some-client")
    assert statuses[:10] == [401] * 10  # no initial access token
    assert statuses[10] == 429
    assert management.status_code == 429  # /register/{client_id} shares the bucket


def login_page(http: httpx.Client, server: Server) -> tuple[str, dict[str, str]]:
    """Open a sign-in page for the confidential client; its form action and inputs."""
    _, challenge = pkce_pair()
    response = http.get(
        "/authorize",
        params=code_params(server.seed, challenge),
        follow_redirects=True,
    )
    assert response.status_code == 200, response.text
    form = parse(response.text).forms[0]
    return form.action or "/login", dict(form.inputs)


def sign_in(
    http: httpx.Client, form: tuple[str, dict[str, str]], username: str, password: str
) -> httpx.Response:
    action, inputs = form
    return http.post(action, data={**inputs, "username": username, "password": password})


def error_text(response: httpx.Response) -> str:
    return response.text.split('role="alert"', 1)[1].split("</p>", 1)[0]


def test_sign_in_is_locked_per_address_and_per_ip_without_user_enumeration(
    limited: Server,
) -> None:
    seed = limited.seed
    with limited.client() as http:
        form = login_page(http, limited)
        real = [sign_in(http, form, seed.username, "wrong password") for _ in range(5)]
        locked = sign_in(http, form, seed.username, seed.password)  # right password, too late
        unknown = [sign_in(http, form, "mallory", "wrong password") for _ in range(5)]
        unknown_locked = sign_in(http, form, "mallory", "wrong password")
        # 12 attempts from this IP so far; 18 more failures reach the IP's 30.
        others = [sign_in(http, form, f"user-{i}", "wrong password") for i in range(18)]
        ip_locked = sign_in(http, form, "someone-new", "wrong password")

    assert [r.status_code for r in real] == [400] * 5
    assert [r.status_code for r in unknown] == [400] * 5
    assert error_text(real[0]) == error_text(unknown[0])  # "Incorrect username or password."
    for response in (locked, unknown_locked, ip_locked):
        assert response.status_code == 429
        assert 1 <= int(response.headers["retry-after"]) <= 900
        assert "Too many sign-in attempts" in response.text
        assert parse(response.text).forms, "the page keeps the sign-in form"
    # Known and unknown accounts are locked alike (no enumeration).
    assert error_text(locked) == error_text(unknown_locked)
    # The first lock at an address lasts 30 s from the last failure.
    for response in (locked, unknown_locked):
        assert 20 <= int(response.headers["retry-after"]) <= 30
    assert [r.status_code for r in others] == [400] * 18

    lines = [json.loads(line) for line in limited.logs().splitlines() if "login_locked" in line]
    assert {line["scope"] for line in lines} == {"address", "ip"}
    assert not any("mallory" in json.dumps(line) for line in lines)


# Two instances sharing their limits through Redis --------------------------------------


SHARED_KEY = "tollhouse:ratelimit:token:127.0.0.1"
"""This IP's /token bucket in Redis."""


@pytest.fixture
def redis_url() -> Iterator[str]:
    import redis
    import redis.exceptions

    client = redis.Redis.from_url(REDIS_URL)
    try:
        try:
            client.delete(SHARED_KEY)  # left by an earlier run within its refill time
        except (redis.exceptions.ConnectionError, OSError) as exc:
            if os.environ.get("CI") == "true":
                pytest.fail(f"Redis is required under CI but {REDIS_URL} is unreachable: {exc!r}")
            pytest.skip(f"Redis is not reachable at {REDIS_URL}")
        yield REDIS_URL
        client.delete(SHARED_KEY)
    finally:
        client.close()


def test_token_limit_is_shared_by_two_instances_through_redis(
    tmp_path: Path, redis_url: str
) -> None:
    env = {"TOLLHOUSE_RATE_LIMIT_TOKEN": "6/h"}  # no refill to speak of during the test
    servers = []
    try:
        for _ in range(2):  # two instances on one database and master key
            port = free_port()
            process, _ = start_server(tmp_path, port, "--redis", redis_url, env=env)
            servers.append((process, f"http://127.0.0.1:{port}"))
        statuses = []
        for i in range(10):
            _, base_url = servers[i % 2]
            statuses.append(httpx.post(f"{base_url}/token", data={"grant_type": "x"}).status_code)
    finally:
        for process, _ in servers:
            stop(process)
    # Six in all, alternating between the instances, then both refuse.
    assert statuses == [401] * 6 + [429] * 4


def _from(address: str, port: int) -> httpx.Client:
    """A client whose connections leave from ``address`` (any 127.x is loopback)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", transport=transport, timeout=20)


def _client_credentials(http: httpx.Client, client_id: str, secret: str) -> httpx.Response:
    return http.post("/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))


def test_wrong_secrets_from_many_addresses_do_not_lock_out_the_client(tmp_path: Path) -> None:
    """Failed authentications are charged to their own bucket per client and address:
    others' wrong secrets do not spend the client's own per-client limit, while each
    guessing address is slowed down (here the per-IP limit is off)."""
    seed = Seed()
    asyncio.run(seed_database(f"sqlite:///{tmp_path / 'tollhouse.db'}", seed))
    port = free_port()
    env = {
        "TOLLHOUSE_RATE_LIMIT_TOKEN": "off",
        "TOLLHOUSE_RATE_LIMIT_TOKEN_CLIENT": "5/min,burst=5",
        "TOLLHOUSE_RATE_LIMIT_TOKEN_CLIENT_FAILURES": "3/min,burst=3",
    }
    process, _ = start_server(tmp_path, port, env=env)
    client_id, secret = seed.machine_id, seed.confidential_secret
    try:
        for n in range(2, 32):
            with _from(f"127.0.0.{n}", port) as attacker:
                guess = _client_credentials(attacker, client_id, f"guess-{n}")
                assert guess.status_code == 401, guess.text
        with _from("127.0.1.1", port) as guesser:
            statuses = [_client_credentials(guesser, client_id, "guess").status_code]
            statuses += [_client_credentials(guesser, client_id, "guess").status_code]
            statuses += [_client_credentials(guesser, client_id, "guess").status_code]
            slowed = _client_credentials(guesser, client_id, "guess")
        assert statuses == [401] * 3
        assert slowed.status_code == 429 and slowed.json()["error"] == "slow_down"
        assert "retry-after" in slowed.headers
        with _from("127.0.0.1", port) as rightful:
            answered = [_client_credentials(rightful, client_id, secret) for _ in range(6)]
        # The client's own limit still holds for authenticated requests.
        assert [r.status_code for r in answered] == [200] * 5 + [429], answered[-1].text
        other = httpx.post(
            f"http://127.0.0.1:{port}/token",
            data={"grant_type": "client_credentials"},
            auth=(seed.resource_server_id, seed.confidential_secret),
        )
        assert other.status_code == 200  # another client has its own bucket
    finally:
        stop(process)


def test_concurrent_requests_of_a_busy_client_do_not_spend_its_failure_bucket(
    tmp_path: Path,
) -> None:
    """Only failed authentications spend the failures bucket: many concurrent requests
    with the right secret from one address are all answered, however small it is."""
    seed = Seed()
    asyncio.run(seed_database(f"sqlite:///{tmp_path / 'tollhouse.db'}", seed))
    port = free_port()
    env = {
        "TOLLHOUSE_RATE_LIMIT_TOKEN": "off",
        "TOLLHOUSE_RATE_LIMIT_TOKEN_CLIENT": "off",
        "TOLLHOUSE_RATE_LIMIT_TOKEN_CLIENT_FAILURES": "1/min,burst=1",
    }
    process, _ = start_server(tmp_path, port, env=env)
    auth = (seed.machine_id, seed.confidential_secret)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            answers = await asyncio.gather(
                *(
                    http.post("/token", data={"grant_type": "client_credentials"}, auth=auth)
                    for _ in range(30)
                )
            )
        return [answer.status_code for answer in answers]

    try:
        assert asyncio.run(burst()) == [200] * 30
    finally:
        stop(process)
