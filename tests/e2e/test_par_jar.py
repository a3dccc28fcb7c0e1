"""Pushed authorization requests (RFC 9126) and signed request objects (RFC 9101)
against a real server, over HTTP, with private_key_jwt clients."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from joserfc.jwk import OKPKey

from tests.e2e.conftest import CALLBACK, Seed, free_port, seed_database, start_server, stop
from tests.e2e.flows import Callback, browse, exchange, pkce_pair
from tests.e2e.test_private_key_jwt import ASSERTION_TYPE, Key, _key, assertion, public_set, sign
from tollhouse.models import AuthMethod, Client, GrantType
from tollhouse.storage.sql.storage import open_storage

PAR_CLIENT = "par-web"
JAR_CLIENT = "jar-web"
PREFIX = "urn:ietf:params:oauth:request_uri:"


@dataclass
class Setup:
    base_url: str
    seed: Seed
    par_key: Key
    jar_key: Key
    stranger: Key

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, follow_redirects=False, timeout=10)


def _web_client(client_id: str, key: Key, **flags: bool) -> Client:
    return Client(
        client_id=client_id,
        name=client_id,
        redirect_uris=(CALLBACK,),
        grant_types=(GrantType.AUTHORIZATION_CODE,),
        token_endpoint_auth_method=AuthMethod.PRIVATE_KEY_JWT,
        created_at=int(time.time()),
        jwks=json.dumps(public_set(key)),
        **flags,
    )


async def _seed(url: str, setup: Setup) -> None:
    storage = await open_storage(url)
    try:
        await storage.add_client(
            _web_client(PAR_CLIENT, setup.par_key, require_pushed_authorization_requests=True)
        )
        await storage.add_client(
            _web_client(JAR_CLIENT, setup.jar_key, require_signed_request_object=True)
        )
    finally:
        await storage.close()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    data_dir = tmp_path_factory.mktemp("par")
    database_url = f"sqlite:///{data_dir / 'tollhouse.db'}"
    seed = Seed()
    port = free_port()
    made = Setup(
        f"http://127.0.0.1:{port}",
        seed,
        _key("ES256", "par-1"),
        _key("EdDSA", "jar-1"),
        _key("ES256", "jar-1"),  # same kid as the JAR client's key, another key
    )
    asyncio.run(seed_database(database_url, seed))
    asyncio.run(_seed(database_url, made))
    process, _ = start_server(data_dir, port)
    try:
        yield made
    finally:
        stop(process)


def _auth(setup: Setup) -> dict[str, str]:
    return {
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion(setup.par_key, PAR_CLIENT, setup.base_url),
    }


def _request(challenge: str, state: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "redirect_uri": CALLBACK,
        "scope": "openid",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


def _push(setup: Setup, http: httpx.Client, params: dict[str, str]) -> httpx.Response:
    return http.post("/par", data={**params, **_auth(setup)})


def test_pushed_request_completes_the_code_flow_once(setup: Setup) -> None:
    verifier, challenge = pkce_pair()
    with setup.client() as http:
        pushed = _push(setup, http, _request(challenge, "pushed-state"))
        assert pushed.status_code == 201, pushed.text
        body = pushed.json()
        assert body["request_uri"].startswith(PREFIX) and body["expires_in"] == 60
        assert pushed.headers["cache-control"] == "no-store"
        # Parameters beside request_uri are ignored (RFC 9126 §4): the pushed state wins.
        query = {"client_id": PAR_CLIENT, "request_uri": body["request_uri"], "state": "evil"}
        done = browse(http, query, username=setup.seed.username, password=setup.seed.password)
        assert isinstance(done, Callback), getattr(done, "text", done)
        assert done.params["state"] == "pushed-state"
        tokens = exchange(
            http, done.code, verifier=verifier, redirect_uri=CALLBACK, extra=_auth(setup)
        )
        assert tokens.status_code == 200, tokens.text
        again = http.get("/authorize", params=query)
    assert again.status_code == 400
    assert "request_uri" in again.text


def test_a_client_that_must_push_cannot_skip_par(setup: Setup) -> None:
    _, challenge = pkce_pair()
    with setup.client() as http:
        response = http.get(
            "/authorize", params={"client_id": PAR_CLIENT, **_request(challenge, "s")}
        )
    assert response.status_code == 400
    assert "/par" in response.text


def test_a_request_uri_is_bound_to_the_client_that_pushed_it(setup: Setup) -> None:
    _, challenge = pkce_pair()
    seed = setup.seed
    with setup.client() as http:
        pushed = http.post(
            "/par",
            data={
                "client_id": seed.confidential_id,
                **_request(challenge, "s"),
                "scope": "read_sensors",
            },
            auth=(seed.confidential_id, seed.confidential_secret),
        )
        assert pushed.status_code == 201, pushed.text
        stolen = {"client_id": PAR_CLIENT, "request_uri": pushed.json()["request_uri"]}
        response = http.get("/authorize", params=stolen)
    assert response.status_code == 400
    assert "another client" in response.text


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"redirect_uri": "https://attacker.example/cb"}, "invalid_request"),
        ({"request_uri": PREFIX + "x"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
    ],
)
def test_par_validates_like_authorize(setup: Setup, change: dict[str, str], error: str) -> None:
    _, challenge = pkce_pair()
    with setup.client() as http:
        response = _push(setup, http, {**_request(challenge, "s"), **change})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error


def test_par_requires_client_authentication(setup: Setup) -> None:
    _, challenge = pkce_pair()
    with setup.client() as http:
        response = http.post("/par", data={"client_id": PAR_CLIENT, **_request(challenge, "s")})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def _object(setup: Setup, key: Key, claims: dict[str, Any]) -> str:
    now = int(time.time())
    full = {"iss": JAR_CLIENT, "aud": setup.base_url, "exp": now + 60, "nbf": now, **claims}
    alg = "EdDSA" if isinstance(key, OKPKey) else "ES256"
    return sign(key, {"alg": alg, "kid": key.kid, "typ": "oauth-authz-req+jwt"}, full)


def test_signed_request_object_is_the_whole_request(setup: Setup) -> None:
    verifier, challenge = pkce_pair()
    signed = _object(
        setup, setup.jar_key, {"client_id": JAR_CLIENT, **_request(challenge, "inside")}
    )
    query = {"client_id": JAR_CLIENT, "request": signed, "state": "outside", "scope": "profile"}
    with setup.client() as http:
        done = browse(http, query, username=setup.seed.username, password=setup.seed.password)
        assert isinstance(done, Callback), getattr(done, "text", done)
        assert done.params["state"] == "inside"
        auth = {
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(setup.jar_key, JAR_CLIENT, setup.base_url),
        }
        tokens = exchange(http, done.code, verifier=verifier, redirect_uri=CALLBACK, extra=auth)
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "openid"


def test_request_object_signed_by_another_key_is_refused(setup: Setup) -> None:
    _, challenge = pkce_pair()
    signed = _object(setup, setup.stranger, {"client_id": JAR_CLIENT, **_request(challenge, "s")})
    with setup.client() as http:
        response = http.get("/authorize", params={"client_id": JAR_CLIENT, "request": signed})
    assert response.status_code == 400
    assert "invalid_request_object" in response.text or "request object" in response.text


def test_a_client_that_must_sign_cannot_send_plain_parameters(setup: Setup) -> None:
    _, challenge = pkce_pair()
    params = {"client_id": JAR_CLIENT, **_request(challenge, "s")}
    with setup.client() as http:
        response = http.get("/authorize", params=params)
    assert response.status_code == 400
    assert "signed request objects" in response.text


def test_request_object_can_be_pushed(setup: Setup) -> None:
    _, challenge = pkce_pair()
    signed = _object(setup, setup.jar_key, {"client_id": JAR_CLIENT, **_request(challenge, "s")})
    auth = {
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion(setup.jar_key, JAR_CLIENT, setup.base_url),
    }
    with setup.client() as http:
        pushed = http.post("/par", data={"client_id": JAR_CLIENT, "request": signed, **auth})
        assert pushed.status_code == 201, pushed.text
        expired = _object(
            setup,
            setup.jar_key,
            {"client_id": JAR_CLIENT, "exp": int(time.time()) - 120, **_request(challenge, "s")},
        )
        refused = http.post(
            "/par",
            data={
                "client_id": JAR_CLIENT,
                "request": expired,
                **{
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": assertion(setup.jar_key, JAR_CLIENT, setup.base_url),
                },
            },
        )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_request_object"


def test_discovery_names_par(setup: Setup) -> None:
    with setup.client() as http:
        doc = http.get("/.well-known/oauth-authorization-server").json()
    assert doc["pushed_authorization_request_endpoint"] == setup.base_url + "/par"
    assert doc["require_pushed_authorization_requests"] is False
    assert doc["request_parameter_supported"] is True


def test_par_answers_the_pushing_clients_origin(setup: Setup) -> None:
    """CORS as at /token: a single-page app may push from its redirect URI's origin."""
    origin = "http://127.0.0.1:9000"  # CALLBACK's origin
    _, challenge = pkce_pair()
    with setup.client() as http:
        preflight = http.options(
            "/par",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        pushed = http.post(
            "/par", data={**_request(challenge, "s"), **_auth(setup)}, headers={"Origin": origin}
        )
        foreign = http.post(
            "/par",
            data={**_request(challenge, "s"), **_auth(setup)},
            headers={"Origin": "https://elsewhere.example"},
        )
    assert preflight.headers.get("access-control-allow-origin") == origin
    assert pushed.status_code == 201
    assert pushed.headers.get("access-control-allow-origin") == origin
    assert "access-control-allow-origin" not in foreign.headers
