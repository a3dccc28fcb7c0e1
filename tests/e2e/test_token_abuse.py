"""Attacks on single-use values at /token over real HTTP (issue 21, items 5 and 6): a
refresh token presented twice at once, and code exchanges that fail on their binding.

They use the ``server`` fixture, so TOLLHOUSE_TEST_BACKEND=postgresql runs them on
PostgreSQL + Redis too.
"""

from __future__ import annotations

import asyncio
import re

import httpx

from tests.e2e.conftest import CALLBACK, Server
from tests.e2e.flows import Callback, browse, exchange, pkce_pair
from tests.e2e.test_token_lifecycle import auth, introspect, refresh, tokens_for

RACE_ROUNDS = 12
"""Concurrent pairs tried; each must end with the family revoked, whichever request
the database let consume the token first (a race or one after the other)."""


async def _refresh_twice_at_once(server: Server, token: str) -> list[httpx.Response]:
    """Two refreshes with one token, sent together on two warm connections."""
    data = {"grant_type": "refresh_token", "refresh_token": token}
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=20) as one,
        httpx.AsyncClient(base_url=server.base_url, timeout=20) as two,
    ):
        await asyncio.gather(one.get("/healthz"), two.get("/healthz"))
        return list(
            await asyncio.gather(
                one.post("/token", data=data, auth=auth(server)),
                two.post("/token", data=data, auth=auth(server)),
            )
        )


def test_concurrent_refresh_token_reuse_revokes_the_family(server: Server) -> None:
    """RFC 9700 §4.14.2: a refresh token used twice means the family is compromised —
    also when both uses arrive together and the loser finds it consumed mid-flight."""
    with server.client() as http:
        for _ in range(RACE_ROUNDS):
            first = tokens_for(server, http)
            responses = asyncio.run(_refresh_twice_at_once(server, first["refresh_token"]))
            statuses = sorted(r.status_code for r in responses)
            assert statuses == [200, 400], [r.text for r in responses]
            winner = next(r for r in responses if r.status_code == 200).json()
            loser = next(r for r in responses if r.status_code == 400).json()
            assert loser["error"] == "invalid_grant"
            assert "already used" in loser["error_description"], loser
            successor = refresh(http, server, winner["refresh_token"])
            assert successor.status_code == 400, successor.text
            assert successor.json()["error"] == "invalid_grant"
            assert introspect(http, server, winner["access_token"]) == {"active": False}
            assert introspect(http, server, first["access_token"]) == {"active": False}


def _code(server: Server, http: httpx.Client, client_id: str) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "scope": "read_sensors",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    result = browse(http, params, username=server.seed.username, password=server.seed.password)
    assert isinstance(result, Callback), result
    return result.code, verifier


def code_replays(http: httpx.Client) -> float:
    """``tollhouse_code_replays_total`` as the running server reports it."""
    found = re.search(r"^tollhouse_code_replays_total\S* (\S+)$", http.get("/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0


REPLAY_LINE = "authorization code replayed"


def test_another_clients_code_is_refused_without_burning_it(server: Server) -> None:
    """RFC 6749 §4.1.3 / §10.5: a code is bound to its client; another client presenting
    it is refused, and cannot spend it."""
    with server.client() as http:
        replays, mark = code_replays(http), len(server.logs())
        code, verifier = _code(server, http, server.seed.confidential_id)
        stolen = exchange(
            http,
            code,
            verifier=verifier,
            redirect_uri=CALLBACK,
            auth=auth(server, server.seed.other_id),
        )
        assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
        own = exchange(http, code, verifier=verifier, redirect_uri=CALLBACK, auth=auth(server))
        assert own.status_code == 200, own.text
        assert code_replays(http) == replays
    assert REPLAY_LINE not in server.logs()[mark:]


def test_a_typo_in_the_exchange_can_be_corrected_and_is_no_replay(server: Server) -> None:
    """A wrong redirect_uri or code_verifier is refused without spending the code: the
    corrected retry gets the tokens, and nothing is reported as a replay."""
    with server.client() as http:
        replays, mark = code_replays(http), len(server.logs())
        code, verifier = _code(server, http, server.seed.confidential_id)
        typos = [
            {"verifier": verifier[:-1] + ("A" if verifier[-1] != "A" else "B")},
            {"verifier": verifier, "redirect_uri": CALLBACK + "x"},
        ]
        for typo in typos:
            sent = {"verifier": verifier, "redirect_uri": CALLBACK} | typo
            wrong = exchange(http, code, auth=auth(server), **sent)
            assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
        fixed = exchange(http, code, verifier=verifier, redirect_uri=CALLBACK, auth=auth(server))
        assert fixed.status_code == 200, fixed.text
        assert code_replays(http) == replays
    assert REPLAY_LINE not in server.logs()[mark:]


def test_a_code_that_issued_tokens_coming_back_is_a_replay(server: Server) -> None:
    """RFC 6749 §4.1.2: the second use of a redeemed code revokes what it issued, and is
    counted and logged as a replay."""
    with server.client() as http:
        replays = code_replays(http)
        code, verifier = _code(server, http, server.seed.confidential_id)
        first = exchange(http, code, verifier=verifier, redirect_uri=CALLBACK, auth=auth(server))
        assert first.status_code == 200, first.text
        again = exchange(http, code, verifier=verifier, redirect_uri=CALLBACK, auth=auth(server))
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        assert introspect(http, server, first.json()["access_token"]) == {"active": False}
        assert code_replays(http) == replays + 1
    assert REPLAY_LINE in server.logs()
