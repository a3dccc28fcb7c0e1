"""A user created with the test-only cheap argon2 profile (``TOLLHOUSE_TEST_FAST_HASH=1``)
is brought up to the production profile (RFC 9106 §4: m=64 MiB, t=3, p=4) by its first
correct sign-in through the real login form of a real server; a wrong password changes
nothing stored. The stored hash is read straight from the server's SQLite file."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import TOLLHOUSE, free_port, start_server, stop
from tests.e2e.flows import Callback, browse, pkce_pair

REDIRECT_URI = "http://127.0.0.1:7000/cb"
PASSWORD = "correct horse battery staple"
CHEAP = "$argon2id$v=19$m=8,t=1,p=1$"
PRODUCTION = "$argon2id$v=19$m=65536,t=3,p=4$"


@dataclass
class RehashServer:
    base_url: str
    database: Path
    client_id: str


def cli(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(TOLLHOUSE), *args, "--data-dir", str(data_dir)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TOLLHOUSE_TEST_FAST_HASH": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RehashServer]:
    data_dir = tmp_path_factory.mktemp("rehash-idp")
    created = cli(data_dir, "clients", "create", "--name", "App", "--public",
                  "--redirect-uri", REDIRECT_URI, "--json")  # fmt: skip
    for username in ("alice", "bob"):
        cli(data_dir, "users", "create", "--username", username, "--password-stdin", stdin=PASSWORD)
    port = free_port()
    # The server never reads the test switch; it is left out so that is plain.
    saved = os.environ.pop("TOLLHOUSE_TEST_FAST_HASH", None)
    try:
        process, _ = start_server(data_dir, port)
    finally:
        if saved is not None:
            os.environ["TOLLHOUSE_TEST_FAST_HASH"] = saved
    try:
        yield RehashServer(
            f"http://127.0.0.1:{port}",
            data_dir / "tollhouse.db",
            json.loads(created)["client_id"],
        )
    finally:
        stop(process)


def stored_hash(server: RehashServer, username: str) -> str:
    with closing(sqlite3.connect(server.database)) as db:
        row = db.execute("SELECT password_hash FROM users WHERE username = ?", (username,))
        (found,) = row.fetchall()
    return str(found[0])


def sign_in(server: RehashServer, username: str, password: str) -> Callback | httpx.Response:
    """One attempt through the login and consent forms, in a fresh browser."""
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": server.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30) as http:
        return browse(http, params, username=username, password=password)


def test_a_correct_sign_in_upgrades_a_cheap_hash_to_the_production_profile(
    server: RehashServer,
) -> None:
    assert stored_hash(server, "alice").startswith(CHEAP)

    first = sign_in(server, "alice", PASSWORD)

    assert isinstance(first, Callback) and "code" in first.params, first
    assert stored_hash(server, "alice").startswith(PRODUCTION)
    again = sign_in(server, "alice", PASSWORD)
    assert isinstance(again, Callback) and "code" in again.params, again
    assert stored_hash(server, "alice").startswith(PRODUCTION)


def test_a_wrong_password_changes_nothing_stored(server: RehashServer) -> None:
    before = stored_hash(server, "bob")
    assert before.startswith(CHEAP)

    refused = sign_in(server, "bob", "not " + PASSWORD)

    assert isinstance(refused, httpx.Response) and refused.status_code == 400
    assert "Incorrect username or password" in refused.text
    assert stored_hash(server, "bob") == before
