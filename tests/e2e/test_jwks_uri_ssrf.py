"""A ``jwks_uri`` as an SSRF probe, over real HTTP: a client registered over HTTP whose
jwks_uri name resolved to nothing at registration and answers 127.0.0.1 when the
server fetches it (DNS rebinding) gets ``invalid_client``, and no connection is made.

The server runs with scripted DNS answers (tests/e2e/fake_dns.py); the only listener
is a JWKS server on 127.0.0.1 that counts its requests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import Seed, free_port, seed_database, stop
from tests.e2e.test_backchannel_ssrf import launch
from tests.e2e.test_private_key_jwt import (
    ASSERTION_TYPE,
    JwksServer,
    _key,
    assertion,
    public_set,
)


@pytest.fixture(scope="module")
def rebinding(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, JwksServer]]:
    data_dir = tmp_path_factory.mktemp("jwks-ssrf")
    asyncio.run(seed_database(f"sqlite:///{data_dir / 'tollhouse.db'}", Seed()))
    jwks = JwksServer()
    answers = {"keys.partner.test": [[], ["127.0.0.1"]]}
    env = {
        "TOLLHOUSE_TEST_RESOLVER": json.dumps(answers),
        "TOLLHOUSE_OUTBOUND_ALLOW": "",
        "TOLLHOUSE_REGISTRATION": "open",
    }
    port = free_port()
    process = launch(data_dir, port, env)
    try:
        yield f"http://127.0.0.1:{port}", jwks
    finally:
        stop(process)
        jwks.close()


def test_a_jwks_uri_rebound_to_loopback_is_not_fetched(
    rebinding: tuple[str, JwksServer],
) -> None:
    base_url, jwks = rebinding
    key = _key("ES256", "k1")
    jwks.document = public_set(key)
    port = jwks.url.split(":")[2].split("/")[0]
    body = {
        "client_name": "Partner gateway",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": f"https://keys.partner.test:{port}/jwks.json",
    }
    with httpx.Client(base_url=base_url, timeout=10) as http:
        registered = http.post("/register", json=body)
        assert registered.status_code == 201, registered.text
        client_id = registered.json()["client_id"]
        response = http.post(
            "/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(key, client_id, base_url),
            },
        )
    assert response.status_code == 401
    description = response.json()["error_description"]
    assert "jwks_uri could not be used" in description and "127.0.0.1" in description
    assert jwks.hits == 0
