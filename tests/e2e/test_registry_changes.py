"""A change to clients, secrets or APIs made by another process is seen by a running
server within one second (contract, second wave: "A client or API created, changed or
deleted by any process is seen by every running server within 1 s").

The attack: a compromised client is deleted (or its secret rotated) with the real CLI
while the server has it cached from a request a moment before; its next
``client_credentials`` requests must fail within a second. Runs on SQLite and, with
``TOLLHOUSE_TEST_BACKEND=postgresql``, on PostgreSQL (the ``server`` fixture);
tests/e2e/test_multi_instance_registry.py covers two instances over one database.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable

import httpx
import jwt

from tests.e2e.conftest import TOLLHOUSE, Server

DEADLINE = 1.0
"""Seconds, from the CLI's exit, within which the running server must see the change."""


def cli(server: Server, *args: str) -> str:
    """A ``tollhouse`` admin command on the running server's state."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLHOUSE_")}
    env.update(TOLLHOUSE_INSECURE_HTTP="true", TOLLHOUSE_ISSUER=server.base_url)
    state = ("--data-dir", str(server.data_dir), "--database", server.database_url)
    done = subprocess.run(
        [str(TOLLHOUSE), *args, *state],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def machine_client(server: Server, name: str) -> tuple[str, str]:
    """(client_id, client_secret) of a new client_credentials client, made by the CLI."""
    args = ("--name", name, "--grant-type", "client_credentials", "--json")
    created = json.loads(cli(server, "clients", "create", *args))
    return created["client_id"], created["client_secret"]


def token(http: httpx.Client, auth: tuple[str, str], scope: str | None = None) -> httpx.Response:
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    return http.post("/token", data=data, auth=auth)


def seconds_until(check: Callable[[], bool], limit: float = 3 * DEADLINE) -> float:
    """Seconds until ``check()`` holds, polled; fails past ``limit``."""
    start = time.monotonic()
    while not check():
        elapsed = time.monotonic() - start
        assert elapsed < limit, f"not seen after {elapsed:.2f} s"
        time.sleep(0.02)
    return time.monotonic() - start


def test_a_client_deleted_by_the_cli_is_refused_within_a_second(server: Server) -> None:
    auth = machine_client(server, "Compromised meter")
    with server.client() as http:
        assert token(http, auth).status_code == 200  # cached by the server from here on
        cli(server, "clients", "delete", auth[0])
        took = seconds_until(lambda: token(http, auth).status_code == 401)
        refused = token(http, auth)
    assert took < DEADLINE
    assert refused.json()["error"] == "invalid_client"


def test_a_rotated_secret_is_refused_within_a_second(server: Server) -> None:
    client_id, old = machine_client(server, "Rotated meter")
    with server.client() as http:
        assert token(http, (client_id, old)).status_code == 200
        new = json.loads(cli(server, "clients", "rotate-secret", client_id, "--json"))
        took = seconds_until(lambda: token(http, (client_id, old)).status_code == 401)
        assert token(http, (client_id, new["client_secret"])).status_code == 200
    assert took < DEADLINE


def test_a_secret_rotated_with_an_overlap_keeps_working_for_the_overlap(server: Server) -> None:
    client_id, old = machine_client(server, "Overlapping meter")
    with server.client() as http:
        assert token(http, (client_id, old)).status_code == 200
        rotated = cli(server, "clients", "rotate-secret", client_id, "--overlap", "60", "--json")
        new = json.loads(rotated)["client_secret"]
        seconds_until(lambda: token(http, (client_id, new)).status_code == 200)
        deadline = time.monotonic() + 2 * DEADLINE
        while time.monotonic() < deadline:
            assert token(http, (client_id, old)).status_code == 200
            time.sleep(0.1)


def test_a_new_api_scope_is_accepted_within_a_second(server: Server) -> None:
    auth = machine_client(server, "Meter of a new API")
    scope = f"read_meters_{os.urandom(3).hex()}"
    with server.client() as http:
        before = token(http, auth, scope)
        assert before.status_code == 400 and before.json()["error"] == "invalid_scope"
        api = f"https://meters-{scope[-6:]}.example.test"
        cli(server, "apis", "create", "--identifier", api, "--scope", scope)
        took = seconds_until(lambda: token(http, auth, scope).status_code == 200)
        issued = token(http, auth, scope).json()
    assert took < DEADLINE
    assert issued["scope"] == scope


def audience_or_error(
    http: httpx.Client, auth: tuple[str, str], scope: str, resource: str | None = None
) -> str:
    """The ``aud`` of the access token granted, or the RFC 6749 §5.2 error code."""
    data = {"grant_type": "client_credentials", "scope": scope}
    if resource is not None:
        data["resource"] = resource
    response = http.post("/token", data=data, auth=auth)
    if response.status_code != 200:
        error: str = response.json()["error"]
        return error
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    audience: str = claims["aud"]
    return audience


def test_apis_created_and_deleted_by_the_cli_change_scopes_and_audience(
    server: Server,
) -> None:
    """The running server resolves scopes against an index it keeps between requests:
    APIs created and deleted meanwhile must still be granted, audienced and refused."""
    auth = machine_client(server, "Meter of two APIs")
    tag = os.urandom(3).hex()
    first, second = f"https://first-{tag}.example.test", f"https://second-{tag}.example.test"
    read_first, read_second = f"read_first_{tag}", f"read_second_{tag}"
    with server.client() as http:
        cli(server, "apis", "create", "--identifier", first, "--scope", read_first)
        seconds_until(lambda: audience_or_error(http, auth, read_first) == first)
        assert audience_or_error(http, auth, read_second) == "invalid_scope"

        cli(server, "apis", "create", "--identifier", second, "--scope", read_second)
        seconds_until(lambda: audience_or_error(http, auth, read_second) == second)
        assert audience_or_error(http, auth, read_second, second) == second
        assert audience_or_error(http, auth, read_first, second) == "invalid_scope"
        both = f"{read_first} {read_second}"
        assert audience_or_error(http, auth, both) == "invalid_target"
        assert audience_or_error(http, auth, read_first) == first

        cli(server, "apis", "delete", second)
        seconds_until(lambda: audience_or_error(http, auth, read_second) == "invalid_scope")
        assert audience_or_error(http, auth, "", second) == "invalid_target"
        assert audience_or_error(http, auth, read_first, first) == first
