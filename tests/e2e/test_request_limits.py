"""Floods of anonymous requests against a real server on 127.0.0.1 (issue 21, item 11):
``/authorize`` stored one interaction row per request without limit. Now ``/authorize``,
``/userinfo``, ``/revocations`` and the pages have per-address limits, the interaction
rows an address may keep are bounded, ``off`` turns each off, and X-Forwarded-For picks
the bucket only from a trusted proxy."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Seed, Server, free_port, seed_database, start_server, stop
from tests.e2e.flows import code_params, pkce_pair


@contextmanager
def server_with(tmp_path: Path, env: dict[str, str], *extra: str) -> Iterator[Server]:
    seed = Seed()
    database_url = f"sqlite:///{tmp_path / 'tollhouse.db'}"
    asyncio.run(seed_database(database_url, seed))
    port = free_port()
    process, log_path = start_server(tmp_path, port, *extra, env=env)
    try:
        yield Server(f"http://127.0.0.1:{port}", tmp_path, database_url, seed, process, log_path)
    finally:
        stop(process)


def interaction_rows(server: Server) -> int:
    with closing(sqlite3.connect(server.data_dir / "tollhouse.db")) as db:
        (count,) = db.execute("SELECT count(*) FROM interactions").fetchone()
    return int(count)


def authorize_params(server: Server) -> dict[str, str]:
    """A valid request from an anonymous browser: it needs the sign-in page, so each one
    that is let through stores an interaction."""
    _, challenge = pkce_pair()
    return code_params(server.seed, challenge, state="flood")


async def flood(
    server: Server,
    n: int,
    *,
    path: str = "/authorize",
    headers: dict[str, str] | None = None,
    local_address: str | None = None,
) -> list[httpx.Response]:
    """``n`` GETs of ``path``, 50 at a time, from one address."""
    params = authorize_params(server) if path == "/authorize" else {}
    transport = httpx.AsyncHTTPTransport(local_address=local_address)
    gate = asyncio.Semaphore(50)
    async with httpx.AsyncClient(
        base_url=server.base_url, transport=transport, timeout=30, headers=headers
    ) as http:

        async def one() -> httpx.Response:
            async with gate:
                return await http.get(path, params=params)

        return list(await asyncio.gather(*(one() for _ in range(n))))


def statuses(responses: list[httpx.Response]) -> dict[int, int]:
    counted: dict[int, int] = {}
    for response in responses:
        counted[response.status_code] = counted.get(response.status_code, 0) + 1
    return counted


def assert_html_429(response: httpx.Response) -> None:
    """A refused browser request: a page, never a redirect to the client."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert 1 <= int(response.headers["retry-after"]) <= 3600
    assert "location" not in response.headers
    assert "Too many requests" in response.text


@pytest.mark.slow
def test_authorize_flood_is_refused_and_stores_a_bounded_number_of_rows(tmp_path: Path) -> None:
    """The attack: 2,000 anonymous /authorize requests from one address. With the
    default limits the address gets 429s and its interaction rows stay bounded."""
    defaults = {
        "TOLLHOUSE_RATE_LIMIT_AUTHORIZE": "10/s,burst=50",
        "TOLLHOUSE_MAX_PENDING_INTERACTIONS": "300",
    }
    with server_with(tmp_path, defaults) as server:
        responses = asyncio.run(flood(server, 2000))
        counted = statuses(responses)
        assert set(counted) == {303, 429}, counted
        assert_html_429(next(r for r in responses if r.status_code == 429))
        rows = interaction_rows(server)
        assert rows == counted[303]
        # Every row kept is a request that was let through: the burst, plus what refilled
        # at 10/s while the flood was being answered, and never past the pending bound.
        assert rows <= 300 * 2, rows
        assert '"event":"rate_limited"' in server.logs()


def test_pending_interactions_per_address_are_bounded(tmp_path: Path) -> None:
    env = {"TOLLHOUSE_RATE_LIMIT_AUTHORIZE": "off", "TOLLHOUSE_MAX_PENDING_INTERACTIONS": "5"}
    with server_with(tmp_path, env) as server:
        first = asyncio.run(flood(server, 30))
        assert statuses(first) == {303: 5, 429: 25}
        assert_html_429(next(r for r in first if r.status_code == 429))
        assert interaction_rows(server) == 5
        # Another address has its own allowance.
        other = asyncio.run(flood(server, 3, local_address="127.0.0.2"))
        assert statuses(other) == {303: 3}
        assert interaction_rows(server) == 8
        # A request that needs no interaction is answered as before (its error page).
        with server.client() as http:
            bad = http.get("/authorize", params={"client_id": "nobody"})
        assert bad.status_code == 400


def test_userinfo_revocations_and_pages_are_limited_per_address(tmp_path: Path) -> None:
    env = {
        "TOLLHOUSE_RATE_LIMIT_USERINFO": "5/min",
        "TOLLHOUSE_RATE_LIMIT_REVOCATIONS": "5/min",
        "TOLLHOUSE_RATE_LIMIT_PAGES": "5/min",
    }
    with server_with(tmp_path, env) as server:
        for path in ("/userinfo", "/revocations"):
            answers = asyncio.run(flood(server, 8, path=path))
            assert statuses(answers) == {401: 5, 429: 3}, (path, statuses(answers))
            refused = next(r for r in answers if r.status_code == 429)
            assert refused.json()["error"] == "slow_down"
            assert refused.headers["content-type"] == "application/json"
            assert 1 <= int(refused.headers["retry-after"]) <= 12
        # The pages share one bucket per address.
        with server.client() as http:
            pages = [http.get(p) for p in ("/login", "/consent", "/logout", "/login", "/logout")]
            assert 429 not in [r.status_code for r in pages]
            refused_page = http.get("/consent")
            assert_html_429(refused_page)
            assert http.get("/interaction/callback").status_code == 429
        # /authorize has its own limit (the default): not refused here.
        assert asyncio.run(flood(server, 3))[0].status_code == 303


def test_off_turns_each_limit_off(tmp_path: Path) -> None:
    env = {
        "TOLLHOUSE_RATE_LIMIT_AUTHORIZE": "off",
        "TOLLHOUSE_MAX_PENDING_INTERACTIONS": "off",
        "TOLLHOUSE_RATE_LIMIT_USERINFO": "off",
        "TOLLHOUSE_RATE_LIMIT_REVOCATIONS": "off",
        "TOLLHOUSE_RATE_LIMIT_PAGES": "off",
    }
    with server_with(tmp_path, env) as server:
        assert statuses(asyncio.run(flood(server, 400))) == {303: 400}
        assert interaction_rows(server) == 400
        assert statuses(asyncio.run(flood(server, 300, path="/userinfo"))) == {401: 300}
        assert statuses(asyncio.run(flood(server, 300, path="/revocations"))) == {401: 300}
        assert 429 not in statuses(asyncio.run(flood(server, 300, path="/login")))


def test_forwarded_client_picks_the_bucket_only_from_a_trusted_proxy(tmp_path: Path) -> None:
    env = {"TOLLHOUSE_RATE_LIMIT_AUTHORIZE": "3/h"}
    with server_with(tmp_path, env, "--trusted-proxies", "127.0.0.1") as server:
        # Through the trusted proxy (127.0.0.1): each forwarded client has its own bucket.
        one = asyncio.run(flood(server, 5, headers={"X-Forwarded-For": "203.0.113.1"}))
        two = asyncio.run(flood(server, 5, headers={"X-Forwarded-For": "203.0.113.2"}))
        assert statuses(one) == statuses(two) == {303: 3, 429: 2}
        # From a peer that is not a trusted proxy the header is ignored: one bucket for
        # the peer, whatever it claims.
        claims = [
            asyncio.run(
                flood(
                    server,
                    1,
                    headers={"X-Forwarded-For": f"198.51.100.{i}"},
                    local_address="127.0.0.3",
                )
            )[0].status_code
            for i in range(5)
        ]
        assert claims == [303] * 3 + [429] * 2
