"""RFC 7591 registration and RFC 7592 management over real HTTP, and secret rotation
with an overlap window, against running ``tollhouse serve`` processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import (
    TOLLHOUSE,
    Seed,
    Server,
    free_port,
    seed_database,
    start_server,
    stop,
)
from tests.e2e.flows import Callback, browse, exchange, pkce_pair

NATIVE_CB = "http://127.0.0.1:7000/registered-cb"


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Default policy: registration needs an initial access token."""
    data_dir = tmp_path_factory.mktemp("registration-idp")
    database_url = f"sqlite:///{data_dir / 'tollhouse.db'}"
    seed = Seed()
    asyncio.run(seed_database(database_url, seed))
    port = free_port()
    # No client cache: the overlap test rotates secrets from the CLI (another process).
    process, log_path = start_server(data_dir, port, env={"TOLLHOUSE_CLIENT_CACHE_TTL": "0"})
    try:
        yield Server(f"http://127.0.0.1:{port}", data_dir, database_url, seed, process, log_path)
    finally:
        stop(process)


def admin(server: Server, *args: str) -> str:
    """Run an admin command on the running server's state (the contract allows it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLHOUSE_")}
    done = subprocess.run(
        [str(TOLLHOUSE), *args, "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def initial_token(server: Server, *args: str) -> str:
    value: str = json.loads(admin(server, "registration-token", "create", "--json", *args))["token"]
    return value


def post_register(
    http: httpx.Client, body: Any, token: str | None, content_type: str | None = "application/json"
) -> httpx.Response:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if content_type is not None:
        headers["Content-Type"] = content_type
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.post("/register", content=raw, headers=headers)


def test_discovery_lists_the_registration_endpoint(idp: Server) -> None:
    with idp.client() as http:
        doc = http.get("/.well-known/oauth-authorization-server").json()
    assert doc["registration_endpoint"] == f"{idp.base_url}/register"


def test_registration_without_an_initial_access_token_is_refused(idp: Server) -> None:
    with idp.client() as http:
        missing = post_register(http, {"redirect_uris": [NATIVE_CB]}, None)
        wrong = post_register(http, {"redirect_uris": [NATIVE_CB]}, "not-a-token")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="tollhouse"'
    assert missing.json()["error"] == "invalid_token"
    assert wrong.status_code == 401
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]


def test_registered_public_client_completes_the_code_flow(idp: Server) -> None:
    """The seed's ``curl -d '{…}'`` sends a form Content-Type: the JSON is accepted."""
    token = initial_token(idp)
    with idp.client() as http:
        response = post_register(
            http,
            {
                "client_name": "Registered CLI",
                "redirect_uris": [NATIVE_CB],
                "token_endpoint_auth_method": "none",
                "logo_uri": "https://ignored.example/logo.png",
            },
            token,
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 201, response.text
        client = response.json()
        assert "client_secret" not in client and "logo_uri" not in client
        assert response.headers["cache-control"] == "no-store"
        verifier, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": NATIVE_CB,
            "scope": "read_sensors",  # registered without scope: any scope the server has
            "state": "s1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        result = browse(http, params, username=idp.seed.username, password=idp.seed.password)
        assert isinstance(result, Callback), getattr(result, "text", result)
        tokens = exchange(
            http,
            result.code,
            verifier=verifier,
            redirect_uri=NATIVE_CB,
            client_id=client["client_id"],
        )
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "read_sensors"


def test_initial_access_token_use_count_and_refusals_over_http(idp: Server) -> None:
    token = initial_token(idp, "--uses", "1", "--expires-in", "300")
    with idp.client() as http:
        not_json = post_register(http, b"redirect_uris=https://a.example/cb", token, None)
        plain_http = post_register(http, {"redirect_uris": ["http://evil.example/cb"]}, token)
        fragment = post_register(http, {"redirect_uris": ["https://a.example/cb#x"]}, token)
        mismatch = post_register(
            http,
            {"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]},
            token,
        )
        # Refused requests left the single use unspent; no Content-Type at all is fine.
        ok = post_register(
            http,
            {"grant_types": ["client_credentials"], "scope": "read_sensors"},
            token,
            content_type=None,
        )
        spent = post_register(http, {"grant_types": ["client_credentials"]}, token)
    assert (not_json.status_code, not_json.json()["error"]) == (400, "invalid_request")
    assert (plain_http.status_code, plain_http.json()["error"]) == (400, "invalid_redirect_uri")
    assert fragment.json()["error"] == "invalid_redirect_uri"
    assert "fragment" in fragment.json()["error_description"]
    assert (mismatch.status_code, mismatch.json()["error"]) == (400, "invalid_client_metadata")
    assert ok.status_code == 201, ok.text
    assert spent.status_code == 401


def test_registration_is_managed_with_its_registration_access_token(idp: Server) -> None:
    token = initial_token(idp)
    with idp.client() as http:
        created = post_register(
            http, {"client_name": "M2M", "grant_types": ["client_credentials"]}, token
        ).json()
        client_id, secret = created["client_id"], created["client_secret"]
        uri = created["registration_client_uri"]
        assert uri == f"{idp.base_url}/register/{client_id}"
        issued = http.post(
            "/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        assert issued.status_code == 200, issued.text

        bearer = {"Authorization": f"Bearer {created['registration_access_token']}"}
        read = http.get(uri, headers=bearer)
        assert read.status_code == 200 and read.json()["client_name"] == "M2M"
        assert "client_secret" not in read.json()
        assert http.get(uri, headers=bearer).status_code == 401  # rotated on read
        bearer = {"Authorization": f"Bearer {read.json()['registration_access_token']}"}

        update = {
            "client_id": client_id,
            "client_name": "M2M renamed",
            "grant_types": ["client_credentials"],
            "scope": "read_sensors",
        }
        updated = http.put(uri, content=json.dumps(update), headers=bearer)
        assert updated.status_code == 200, updated.text
        assert updated.json()["scope"] == "read_sensors"
        bearer = {"Authorization": f"Bearer {updated.json()['registration_access_token']}"}
        assert http.post(uri, headers=bearer).status_code == 405
        assert http.head(uri, headers=bearer).status_code == 405  # would lose a rotation

        deleted = http.delete(uri, headers=bearer)
        assert deleted.status_code == 204 and deleted.content == b""
        assert http.get(uri, headers=bearer).status_code == 401
        gone = http.post(
            "/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
    assert gone.status_code == 401 and gone.json()["error"] == "invalid_client"


def test_undefined_scope_is_refused_until_an_api_defines_it(idp: Server) -> None:
    token = initial_token(idp, "--uses", "2")
    body = {"grant_types": ["client_credentials"], "scope": "read_sensors read_inventory"}
    with idp.client() as http:
        refused = post_register(http, body, token)
        admin(idp, "apis", "create", "--identifier", "https://inventory.test",
              "--scope", "read_inventory")  # fmt: skip
        accepted = post_register(http, body, token)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_client_metadata")
    description = refused.json()["error_description"]
    assert "read_inventory is not defined" in description and "read_sensors" not in description
    assert "tollhouse apis create" in description
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["scope"] == "read_sensors read_inventory"


def test_update_to_an_undefined_scope_is_refused(idp: Server) -> None:
    token = initial_token(idp)
    with idp.client() as http:
        created = post_register(http, {"grant_types": ["client_credentials"]}, token).json()
        bearer = {"Authorization": f"Bearer {created['registration_access_token']}"}
        update = {
            "client_id": created["client_id"],
            "grant_types": ["client_credentials"],
            "scope": "openid write_sensorz",
        }
        refused = http.put(created["registration_client_uri"], json=update, headers=bearer)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_client_metadata")
    assert "write_sensorz is not defined" in refused.json()["error_description"]
    assert "tollhouse apis create" in refused.json()["error_description"]


def test_issued_client_ids_start_with_a_letter_or_digit(idp: Server) -> None:
    count = 16
    token = initial_token(idp, "--uses", str(count))
    with idp.client() as http:
        ids = [
            post_register(
                http, {"grant_types": ["client_credentials"], "client_id": "-chosen"}, token
            ).json()["client_id"]
            for _ in range(count)
        ]
    assert len(set(ids)) == count
    for client_id in ids:  # RFC 7591 §3.2.1: issued by the server, never the registrant's
        assert client_id != "-chosen" and client_id[0].isascii() and client_id[0].isalnum()


def test_rotated_secret_overlap_window_over_http(idp: Server) -> None:
    machine, first = idp.seed.machine_id, idp.seed.confidential_secret

    def status(secret: str) -> int:
        with idp.client() as http:
            return http.post(
                "/token", data={"grant_type": "client_credentials"}, auth=(machine, secret)
            ).status_code

    second = json.loads(
        admin(idp, "clients", "rotate-secret", machine, "--overlap", "300", "--json")
    )["client_secret"]
    assert (status(first), status(second)) == (200, 200)

    third = json.loads(admin(idp, "clients", "rotate-secret", machine, "--json"))["client_secret"]
    assert (status(first), status(second), status(third)) == (401, 401, 200)


def test_open_and_off_policies(tmp_path: Path) -> None:
    policies = ("open", "off")
    ports = {policy: free_port() for policy in policies}
    for policy in policies:
        (tmp_path / policy).mkdir()
    with ThreadPoolExecutor(max_workers=2) as pool:  # two servers start side by side
        started = list(
            pool.map(
                lambda policy: start_server(
                    tmp_path / policy, ports[policy], env={"TOLLHOUSE_REGISTRATION": policy}
                ),
                policies,
            )
        )
    answers: dict[str, tuple[httpx.Response, dict[str, Any]]] = {}
    try:
        for policy in policies:
            with httpx.Client(base_url=f"http://127.0.0.1:{ports[policy]}", timeout=10) as http:
                response = post_register(http, {"redirect_uris": [NATIVE_CB]}, None)
                answers[policy] = (response, http.get("/.well-known/openid-configuration").json())
    finally:
        for process, _ in started:
            stop(process)
    opened, opened_doc = answers["open"]
    assert opened.status_code == 201, opened.text
    assert "registration_endpoint" in opened_doc
    refused, refused_doc = answers["off"]
    assert refused.status_code == 403
    assert refused.json()["error"] == "access_denied"
    assert "registration_endpoint" not in refused_doc
