"""The whole authorization code flow over real HTTP against a real server process."""

from __future__ import annotations

import jwt
import pytest

from tests.e2e.conftest import CALLBACK, SENSORS, Server
from tests.e2e.flows import Callback, browse, code_params, exchange, pkce_pair


def authorize_params(server: Server, challenge: str, **extra: str) -> dict[str, str]:
    return code_params(server.seed, challenge, **{"state": "st-123", **extra})


def test_confidential_client_gets_a_verifiable_access_token(server: Server) -> None:
    verifier, challenge = pkce_pair()
    with server.client() as http:
        result = browse(
            http,
            authorize_params(server, challenge),
            username=server.seed.username,
            password=server.seed.password,
        )
        assert isinstance(result, Callback), result.text
        assert result.url.startswith(CALLBACK + "?")
        assert result.params["state"] == "st-123"
        assert result.params["iss"] == server.base_url
        response = exchange(
            http,
            result.code,
            verifier=verifier,
            redirect_uri=CALLBACK,
            auth=(server.seed.confidential_id, server.seed.confidential_secret),
        )
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 900
        assert body["scope"] == "read_sensors"
        jwks = http.get("/jwks.json").json()

    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(
        body["access_token"],
        key=jwt.PyJWK(key),
        algorithms=["ES256"],
        audience=SENSORS,
        issuer=server.base_url,
    )
    assert claims["sub"] == server.seed.user_id
    assert claims["client_id"] == server.seed.confidential_id
    assert claims["scope"] == "read_sensors"
    assert claims["exp"] - claims["iat"] == 900
    assert set(claims) >= {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"}


def test_consent_is_remembered_and_second_flow_skips_the_pages(server: Server) -> None:
    _, challenge = pkce_pair()
    with server.client() as http:
        first = browse(
            http,
            authorize_params(server, challenge),
            username=server.seed.username,
            password=server.seed.password,
        )
        assert isinstance(first, Callback)
        response = http.get("/authorize", params=authorize_params(server, challenge, state="again"))
        assert response.status_code == 302
        assert response.headers["location"].startswith(CALLBACK + "?code=")


def test_public_client_uses_pkce_without_secret(server: Server) -> None:
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": server.seed.public_id,
        "redirect_uri": "http://127.0.0.1:7000/cb",
        "scope": "read_billing",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with server.client() as http:
        result = browse(http, params, username=server.seed.username, password=server.seed.password)
        assert isinstance(result, Callback)
        response = exchange(
            http,
            result.code,
            verifier=verifier,
            redirect_uri="http://127.0.0.1:7000/cb",
            client_id=server.seed.public_id,
        )
        assert response.status_code == 200, response.text
        claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
        assert claims["aud"] == "https://billing.example.test"


def test_deny_redirects_with_access_denied(server: Server) -> None:
    _, challenge = pkce_pair()
    with server.client() as http:
        result = browse(
            http,
            authorize_params(server, challenge, scope="write_sensors", state="deny-me"),
            username=server.seed.username,
            password=server.seed.password,
            decision="deny",
        )
    assert isinstance(result, Callback)
    assert result.params["error"] == "access_denied"
    assert result.params["state"] == "deny-me"
    assert result.params["iss"] == server.base_url


def test_wrong_password_shows_the_login_page_again(server: Server) -> None:
    _, challenge = pkce_pair()
    with server.client() as http:
        result = browse(
            http,
            authorize_params(server, challenge),
            username=server.seed.username,
            password="wrong password",
        )
    assert not isinstance(result, Callback)
    assert result.status_code == 400
    assert "Incorrect username or password" in result.text
    assert "wrong password" not in result.text


@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
def test_discovery_lists_the_endpoints(server: Server, path: str) -> None:
    with server.client() as http:
        doc = http.get(path).json()
    assert doc["issuer"] == server.base_url
    assert doc["authorization_endpoint"] == server.base_url + "/authorize"
    assert doc["token_endpoint"] == server.base_url + "/token"
    assert doc["jwks_uri"] == server.base_url + "/jwks.json"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert "read_sensors" in doc["scopes_supported"]


def test_jwks_is_cacheable_and_public_only(server: Server) -> None:
    with server.client() as http:
        response = http.get("/jwks.json")
    assert "max-age" in response.headers["cache-control"]
    for key in response.json()["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
        assert key["use"] == "sig" and key["alg"] and key["kid"]
