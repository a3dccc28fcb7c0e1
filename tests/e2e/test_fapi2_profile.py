"""``TOLLHOUSE_PROFILE=fapi2`` against a real server: every rule of the profile that a
request can break is refused with an error naming it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.conftest import CALLBACK, Seed, free_port, seed_database, start_server, stop
from tests.e2e.dpop_proofs import ProofKey
from tests.e2e.flows import pkce_pair
from tests.e2e.test_private_key_jwt import ASSERTION_TYPE, Key, _key, assertion, public_set
from tollhouse.models import AuthMethod, Client, GrantType
from tollhouse.storage.sql.storage import open_storage

FAPI_CLIENT = "fapi-app"


@dataclass
class Fapi:
    base_url: str
    seed: Seed
    es: Key
    rs: Key

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, follow_redirects=False, timeout=10)

    def auth(self, aud: str | list[str] | None = None, key: Key | None = None) -> dict[str, str]:
        signed = assertion(key or self.es, FAPI_CLIENT, aud or self.base_url)
        return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": signed}


async def _seed(url: str, fapi: Fapi) -> None:
    storage = await open_storage(url)
    try:
        await storage.add_client(
            Client(
                client_id=FAPI_CLIENT,
                name=FAPI_CLIENT,
                redirect_uris=(CALLBACK,),
                grant_types=(GrantType.AUTHORIZATION_CODE, GrantType.CLIENT_CREDENTIALS),
                token_endpoint_auth_method=AuthMethod.PRIVATE_KEY_JWT,
                created_at=int(time.time()),
                jwks=json.dumps(public_set(fapi.es, fapi.rs)),
            )
        )
    finally:
        await storage.close()


@pytest.fixture(scope="module")
def fapi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fapi]:
    data_dir = tmp_path_factory.mktemp("fapi")
    database_url = f"sqlite:///{data_dir / 'tollhouse.db'}"
    port = free_port()
    made = Fapi(f"http://127.0.0.1:{port}", Seed(), _key("ES256", "es"), _key("RS256", "rs"))
    asyncio.run(seed_database(database_url, made.seed))
    asyncio.run(_seed(database_url, made))
    process, _ = start_server(data_dir, port, env={"TOLLHOUSE_PROFILE": "fapi2"})
    try:
        yield made
    finally:
        stop(process)


def test_a_key_client_with_the_issuer_as_audience_gets_dpop_bound_tokens(fapi: Fapi) -> None:
    """FAPI 2.0 Security Profile 5.3.2.1 item 5: with a DPoP proof the tokens are bound."""
    key = ProofKey("ES256")
    with fapi.client() as http:
        response = http.post(
            "/token",
            data={"grant_type": "client_credentials", **fapi.auth()},
            headers={"DPoP": key.proof("POST", f"{fapi.base_url}/token")},
        )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"


def test_bearer_tokens_are_refused_naming_the_rule(fapi: Fapi) -> None:
    """Without a proof (or a client certificate) the profile refuses to issue tokens."""
    with fapi.client() as http:
        response = http.post("/token", data={"grant_type": "client_credentials", **fapi.auth()})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert "sender-constrained" in response.json()["error_description"]


def test_secrets_are_refused_naming_the_profile(fapi: Fapi) -> None:
    seed = fapi.seed
    with fapi.client() as http:
        response = http.post(
            "/token",
            data={"grant_type": "client_credentials"},
            auth=(seed.machine_id, seed.confidential_secret),
        )
    assert response.status_code == 401
    assert "FAPI 2.0" in response.json()["error_description"]


def test_only_the_issuer_is_an_audience_and_rs256_is_refused(fapi: Fapi) -> None:
    with fapi.client() as http:
        by_endpoint = http.post(
            "/token",
            data={"grant_type": "client_credentials", **fapi.auth(fapi.base_url + "/token")},
        )
        in_array = http.post(
            "/token",
            data={"grant_type": "client_credentials", **fapi.auth([fapi.base_url])},
        )
        rs256 = http.post(
            "/token", data={"grant_type": "client_credentials", **fapi.auth(key=fapi.rs)}
        )
    assert by_endpoint.status_code == 401
    assert "aud must be the issuer" in by_endpoint.json()["error_description"]
    assert in_array.status_code == 401
    assert rs256.status_code == 401
    assert "RS256" in rs256.json()["error_description"]


def test_requests_must_be_pushed_and_use_pkce(fapi: Fapi) -> None:
    _, challenge = pkce_pair()
    request = {
        "response_type": "code",
        "client_id": FAPI_CLIENT,
        "redirect_uri": CALLBACK,
        "scope": "openid",
        "state": "s",
    }
    with fapi.client() as http:
        front = http.get(
            "/authorize",
            params={**request, "code_challenge": challenge, "code_challenge_method": "S256"},
        )
        no_pkce = http.post("/par", data={**request, **fapi.auth()})
        pushed = http.post(
            "/par",
            data={
                **request,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                **fapi.auth(),
            },
        )
    assert front.status_code == 400 and "/par" in front.text
    assert no_pkce.status_code == 400 and "code_challenge" in no_pkce.json()["error_description"]
    assert pushed.status_code == 201, pushed.text


def test_discovery_describes_the_profile(fapi: Fapi) -> None:
    with fapi.client() as http:
        doc = http.get("/.well-known/openid-configuration").json()
    assert doc["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert "RS256" not in doc["token_endpoint_auth_signing_alg_values_supported"]
    assert doc["require_pushed_authorization_requests"] is True
