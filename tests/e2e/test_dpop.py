"""RFC 9449 DPoP against a real server: every grant binds its tokens to the proof's key,
and every way of cheating the binding is refused with the RFC's error."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest

from tests.e2e.backends import backend
from tests.e2e.conftest import HASHER, Seed, Server, free_port, seed_database, start_server, stop
from tests.e2e.device import DEVICE_GRANT, HUB, add_device_clients, answer, enter_code, start
from tests.e2e.dpop_proofs import ProofKey, b64
from tests.e2e.flows import Callback, browse, pkce_pair
from tollhouse.models import AuthMethod, Client, GrantType
from tollhouse.storage.sql.storage import open_storage

APP = "dpop-app"
APP_CALLBACK = "http://127.0.0.1:7100/cb"
BOUND_MACHINE = "dpop-machine"


async def add_dpop_clients(url: str, seed: Seed) -> None:
    storage = await open_storage(url)
    now = int(time.time())
    try:
        await storage.add_client(
            Client(
                client_id=APP,
                name="DPoP App",
                redirect_uris=(APP_CALLBACK,),
                grant_types=(GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN),
                token_endpoint_auth_method=AuthMethod.NONE,
                created_at=now,
            )
        )
        await storage.add_client(
            Client(
                client_id=BOUND_MACHINE,
                name="DPoP Machine",
                redirect_uris=(),
                grant_types=(GrantType.CLIENT_CREDENTIALS,),
                token_endpoint_auth_method=AuthMethod.CLIENT_SECRET_BASIC,
                created_at=now,
                secret_hash=HASHER.hash(seed.confidential_secret),
                dpop_bound_access_tokens=True,
            )
        )
    finally:
        await storage.close()


@pytest.fixture(scope="module")
def dpop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The default nonce policy (``public``): public clients need a server nonce."""
    data_dir = tmp_path_factory.mktemp("dpop")
    with backend(data_dir) as (database_url, backend_args):
        seed = Seed()
        asyncio.run(seed_database(database_url, seed))
        asyncio.run(add_dpop_clients(database_url, seed))
        port = free_port()
        process, log_path = start_server(data_dir, port, *backend_args)
        try:
            yield Server(
                f"http://127.0.0.1:{port}", data_dir, database_url, seed, process, log_path
            )
        finally:
            stop(process)


@pytest.fixture
def http(dpop_server: Server) -> Iterator[httpx.Client]:
    with dpop_server.client() as client:
        yield client


def token_url(server: Server) -> str:
    return server.base_url + "/token"


def machine_token(
    server: Server, http: httpx.Client, proof: str | list[str] | None, client_id: str = ""
) -> httpx.Response:
    headers: list[tuple[bytes, bytes]] = []
    for value in [proof] if isinstance(proof, str) else proof or []:
        headers.append((b"DPoP", value.encode("latin-1")))
    return http.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "read_sensors"},
        auth=(client_id or server.seed.machine_id, server.seed.confidential_secret),
        headers=headers,
    )


def assert_refused(response: httpx.Response, error: str = "invalid_dpop_proof") -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error, response.text


def test_discovery_lists_the_proof_algorithms(http: httpx.Client) -> None:
    doc = http.get("/.well-known/openid-configuration").json()
    assert set(doc["dpop_signing_alg_values_supported"]) == {"ES256", "EdDSA", "RS256", "PS256"}


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "PS256"])
def test_client_credentials_token_is_bound_to_the_proof_key(
    dpop_server: Server, http: httpx.Client, alg: str
) -> None:
    key = ProofKey(alg)
    response = machine_token(dpop_server, http, key.proof("POST", token_url(dpop_server)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert "DPoP-Nonce" not in response.headers  # no nonce asked of confidential clients
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": key.jkt}
    seen = http.post(
        "/introspect",
        data={"token": body["access_token"]},
        auth=(dpop_server.seed.resource_server_id, dpop_server.seed.confidential_secret),
    ).json()
    assert seen["active"] is True
    assert seen["token_type"] == "DPoP"
    assert seen["cnf"] == {"jkt": key.jkt}


def test_a_bearer_request_still_gets_a_bearer_token(
    dpop_server: Server, http: httpx.Client
) -> None:
    response = machine_token(dpop_server, http, None)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert "cnf" not in claims


def test_a_dpop_bound_client_may_not_ask_for_bearer_tokens(
    dpop_server: Server, http: httpx.Client
) -> None:
    assert_refused(machine_token(dpop_server, http, None, BOUND_MACHINE))
    key = ProofKey()
    ok = machine_token(dpop_server, http, key.proof("POST", token_url(dpop_server)), BOUND_MACHINE)
    assert ok.status_code == 200, ok.text
    assert ok.json()["token_type"] == "DPoP"


def test_htu_ignores_query_and_fragment_and_normalises_case(
    dpop_server: Server, http: httpx.Client
) -> None:
    url = dpop_server.base_url.replace("http://", "HTTP://") + "/token?x=1#frag"
    response = machine_token(dpop_server, http, ProofKey().proof("POST", url))
    assert response.status_code == 200, response.text


def _spoil_payload(proof: str) -> str:
    head, body, signature = proof.split(".")
    return f"{head}.{body}\u00e9.{signature}"


def _small_order_ed25519() -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(bytes(32))}


REFUSALS = {
    "wrong method": ("htm", lambda k, url: k.proof("GET", url)),
    "other URL": ("htu", lambda k, url: k.proof("POST", url.replace("/token", "/introspect"))),
    "other host": ("htu", lambda k, url: k.proof("POST", "http://evil.example.test/token")),
    "stale iat": ("iat", lambda k, url: k.proof("POST", url, iat=time.time() - 600)),
    "future iat": ("iat", lambda k, url: k.proof("POST", url, iat=time.time() + 600)),
    "alg none": ("alg", lambda k, url: k.proof("POST", url, header={"alg": "none"})),
    "alg HS256": ("alg", lambda k, url: k.proof("POST", url, header={"alg": "HS256"})),
    "bad htu": ("htu", lambda k, url: k.proof("POST", "http://[::1/token")),
    "bad port": ("htu", lambda k, url: k.proof("POST", "http://127.0.0.1:99999/token")),
    "non-ASCII payload": ("compact JWS", lambda k, url: _spoil_payload(k.proof("POST", url))),
    "crit": ("crit", lambda k, url: k.proof("POST", url, header={"crit": ["exp"]})),
    "typ JWT": ("typ", lambda k, url: k.proof("POST", url, header={"typ": "JWT"})),
    "private key": ("private", lambda k, url: k.proof("POST", url, header={"jwk": k.private_jwk})),
    "other signer": ("signature", lambda k, url: k.proof("POST", url, signer=ProofKey())),
    "no jwk": ("jwk", lambda k, url: k.proof("POST", url, header={"jwk": None})),
    "small-order key": (
        "small order",
        lambda k, url: k.proof("POST", url, header={"alg": "EdDSA", "jwk": _small_order_ed25519()}),
    ),
    "no jti": ("jti", lambda k, url: k.proof("POST", url, claims={"jti": None})),
    "garbage": ("base64url JSON", lambda k, url: "not.a.proof"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_bad_proofs_are_refused(dpop_server: Server, http: httpx.Client, case: str) -> None:
    expected, make = REFUSALS[case]
    response = machine_token(dpop_server, http, make(ProofKey(), token_url(dpop_server)))
    assert_refused(response)
    assert expected in response.json()["error_description"]


def test_two_dpop_headers_are_refused(dpop_server: Server, http: httpx.Client) -> None:
    key, url = ProofKey(), token_url(dpop_server)
    assert_refused(machine_token(dpop_server, http, [key.proof("POST", url)] * 2))


def test_a_replayed_proof_is_refused(dpop_server: Server, http: httpx.Client) -> None:
    proof = ProofKey().proof("POST", token_url(dpop_server))
    assert machine_token(dpop_server, http, proof).status_code == 200
    replayed = machine_token(dpop_server, http, proof)
    assert_refused(replayed)
    assert "already used" in replayed.json()["error_description"]


# The public client's code flow: nonce, binding, refresh, userinfo.


def app_code(
    http: httpx.Client, server: Server, extra: dict[str, str] | None = None
) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": APP,
        "redirect_uri": APP_CALLBACK,
        "scope": "openid read_sensors",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **(extra or {}),
    }
    result = browse(http, params, username=server.seed.username, password=server.seed.password)
    assert isinstance(result, Callback), result
    return result.code, verifier


def nonce_of(server: Server, http: httpx.Client, key: ProofKey, data: dict[str, str]) -> str:
    """The server's nonce, from the use_dpop_nonce answer to a proof without one."""
    first = http.post("/token", data=data, headers={"DPoP": key.proof("POST", token_url(server))})
    assert_refused(first, "use_dpop_nonce")
    return first.headers["DPoP-Nonce"]


def token_with(
    server: Server, http: httpx.Client, key: ProofKey | None, data: dict[str, str], nonce: str
) -> httpx.Response:
    headers = {} if key is None else {"DPoP": key.proof("POST", token_url(server), nonce=nonce)}
    return http.post("/token", data=data, headers=headers)


def code_data(code: str, verifier: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": APP_CALLBACK,
        "client_id": APP,
    }


def test_public_client_flow_with_nonce_refresh_and_userinfo(dpop_server: Server) -> None:
    key = ProofKey()
    with dpop_server.client() as http:
        code, verifier = app_code(http, dpop_server)
        data = code_data(code, verifier)
        nonce = nonce_of(dpop_server, http, key, data)
        response = token_with(dpop_server, http, key, data, nonce)
        assert response.status_code == 200, response.text
        tokens = response.json()
        assert tokens["token_type"] == "DPoP"
        assert response.headers["DPoP-Nonce"]  # §8.2: the nonce for the next proof
        access, refresh = tokens["access_token"], tokens["refresh_token"]

        userinfo_url = dpop_server.base_url + "/userinfo"
        proof = key.proof("GET", userinfo_url, access_token=access)
        ok = http.get("/userinfo", headers={"Authorization": f"DPoP {access}", "DPoP": proof})
        assert ok.status_code == 200, ok.text
        assert ok.json()["sub"]

        refresh_data = {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": APP}
        # Refused refreshes consume nothing: the right key still refreshes afterwards.
        assert_refused(token_with(dpop_server, http, None, refresh_data, nonce))
        assert_refused(
            token_with(dpop_server, http, ProofKey(), refresh_data, nonce), "invalid_grant"
        )
        again = token_with(dpop_server, http, key, refresh_data, nonce)
        assert again.status_code == 200, again.text
        assert again.json()["token_type"] == "DPoP"
        claims = jwt.decode(again.json()["access_token"], options={"verify_signature": False})
        assert claims["cnf"] == {"jkt": key.jkt}


def test_a_public_client_needs_a_nonce_and_gets_one(dpop_server: Server) -> None:
    key = ProofKey()
    with dpop_server.client() as http:
        code, verifier = app_code(http, dpop_server)
        data = code_data(code, verifier)
        nonce_of(dpop_server, http, key, data)
        forged = token_with(
            dpop_server, http, key, data, base64.urlsafe_b64encode(b"x" * 18).decode()
        )
        assert_refused(forged, "use_dpop_nonce")
        assert "DPoP-Nonce" in forged.headers


def test_dpop_jkt_binds_the_code_to_one_key(dpop_server: Server) -> None:
    key, other = ProofKey(), ProofKey()
    with dpop_server.client() as http:
        code, verifier = app_code(http, dpop_server, {"dpop_jkt": key.jkt})
        data = code_data(code, verifier)
        nonce = nonce_of(dpop_server, http, other, data)
        assert_refused(token_with(dpop_server, http, other, data, nonce), "invalid_grant")
        assert_refused(token_with(dpop_server, http, None, data, nonce), "invalid_grant")
        ok = token_with(dpop_server, http, key, data, nonce)
        assert ok.status_code == 200, ok.text


def _bound_access_token(server: Server, http: httpx.Client, key: ProofKey) -> str:
    code, verifier = app_code(http, server)
    data = code_data(code, verifier)
    nonce = nonce_of(server, http, key, data)
    response = token_with(server, http, key, data, nonce)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def assert_dpop_challenge(response: httpx.Response, error: str) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("DPoP "), challenge
    assert f'error="{error}"' in challenge


def test_userinfo_refuses_what_does_not_prove_the_token_key(dpop_server: Server) -> None:
    key = ProofKey()
    url = dpop_server.base_url + "/userinfo"
    with dpop_server.client() as http:
        access = _bound_access_token(dpop_server, http, key)
        as_bearer = http.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
        assert as_bearer.status_code == 401
        assert 'error="invalid_token"' in as_bearer.headers["WWW-Authenticate"]

        auth = {"Authorization": f"DPoP {access}"}
        no_proof = http.get("/userinfo", headers=auth)
        assert_dpop_challenge(no_proof, "invalid_dpop_proof")
        wrong_ath = key.proof("GET", url, access_token=access + "x")
        assert_dpop_challenge(
            http.get("/userinfo", headers={**auth, "DPoP": wrong_ath}), "invalid_dpop_proof"
        )
        no_ath = key.proof("GET", url)
        assert_dpop_challenge(
            http.get("/userinfo", headers={**auth, "DPoP": no_ath}), "invalid_dpop_proof"
        )
        wrong_method = key.proof("POST", url, access_token=access)
        assert_dpop_challenge(
            http.get("/userinfo", headers={**auth, "DPoP": wrong_method}), "invalid_dpop_proof"
        )
        thief = ProofKey().proof("GET", url, access_token=access)
        assert_dpop_challenge(
            http.get("/userinfo", headers={**auth, "DPoP": thief}), "invalid_token"
        )
        proof = key.proof("GET", url, access_token=access)
        assert http.get("/userinfo", headers={**auth, "DPoP": proof}).status_code == 200
        replayed = http.get("/userinfo", headers={**auth, "DPoP": proof})
        assert_dpop_challenge(replayed, "invalid_dpop_proof")


def test_the_device_grant_binds_its_tokens_too(dpop_server: Server) -> None:
    """The proof is checked before any grant, so RFC 8628's device grant binds its tokens
    (and the public client's refresh token) like the others."""
    add_device_clients(dpop_server.database_url)
    time.sleep(1.2)  # every server sees a new client within a second
    key = ProofKey()
    with dpop_server.client() as http, dpop_server.client() as browser:
        body = start(http, scope="openid read_sensors offline_access").json()
        entered = enter_code(browser, body["user_code"])
        answer(
            browser,
            entered,
            username=dpop_server.seed.username,
            password=dpop_server.seed.password,
        )
        data = {"grant_type": DEVICE_GRANT, "device_code": body["device_code"], "client_id": HUB}
        nonce = nonce_of(dpop_server, http, key, data)
        tokens = token_with(dpop_server, http, key, data, nonce)
        assert tokens.status_code == 200, tokens.text
        assert tokens.json()["token_type"] == "DPoP"
        claims = jwt.decode(tokens.json()["access_token"], options={"verify_signature": False})
        assert claims["cnf"] == {"jkt": key.jkt}
        refresh = {
            "grant_type": "refresh_token",
            "refresh_token": tokens.json()["refresh_token"],
            "client_id": HUB,
        }
        other = token_with(dpop_server, http, ProofKey(), refresh, nonce)
        assert_refused(other, "invalid_grant")
