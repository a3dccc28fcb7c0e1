"""Refresh rotation, replay, revocation, introspection and the revocation feed over
real HTTP against a running server."""

from __future__ import annotations

import asyncio

import httpx
import jwt

from tests.e2e.conftest import CALLBACK, SENSORS, Server
from tests.e2e.flows import Callback, browse, exchange, pkce_pair


def auth(server: Server, client_id: str | None = None) -> tuple[str, str]:
    return (client_id or server.seed.confidential_id, server.seed.confidential_secret)


def tokens_for(server: Server, http: httpx.Client, client_id: str | None = None) -> dict[str, str]:
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client_id or server.seed.confidential_id,
        "redirect_uri": CALLBACK,
        "scope": "read_sensors",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    result = browse(http, params, username=server.seed.username, password=server.seed.password)
    assert isinstance(result, Callback), result
    response = exchange(
        http, result.code, verifier=verifier, redirect_uri=CALLBACK, auth=auth(server, client_id)
    )
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def refresh(
    http: httpx.Client, server: Server, token: str, client_id: str | None = None
) -> httpx.Response:
    return http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=auth(server, client_id),
    )


def introspect(
    http: httpx.Client, server: Server, token: str, client_id: str | None = None
) -> dict[str, object]:
    response = http.post("/introspect", data={"token": token}, auth=auth(server, client_id))
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_rotation_chain_and_replay_of_the_second_token_kills_the_sixth(server: Server) -> None:
    with server.client() as http:
        first = tokens_for(server, http)
        chain = [first["refresh_token"]]
        for _ in range(5):
            response = refresh(http, server, chain[-1])
            assert response.status_code == 200, response.text
            assert response.headers["cache-control"] == "no-store"
            chain.append(response.json()["refresh_token"])
        assert len(set(chain)) == 6
        replay = refresh(http, server, chain[1])
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
        sixth = refresh(http, server, chain[5])
        assert sixth.status_code == 400 and sixth.json()["error"] == "invalid_grant"
    assert "refresh_replay" in server.logs()


def test_revoked_access_token_is_inactive(server: Server) -> None:
    with server.client() as http:
        tokens = tokens_for(server, http)
        assert introspect(http, server, tokens["access_token"])["active"] is True
        response = http.post("/revoke", data={"token": tokens["access_token"]}, auth=auth(server))
        assert response.status_code == 200
        assert introspect(http, server, tokens["access_token"]) == {"active": False}


def test_revoked_refresh_token_kills_the_family(server: Server) -> None:
    with server.client() as http:
        tokens = tokens_for(server, http)
        rotated = refresh(http, server, tokens["refresh_token"]).json()
        response = http.post(
            "/revoke",
            data={"token": rotated["refresh_token"], "token_type_hint": "refresh_token"},
            auth=auth(server),
        )
        assert response.status_code == 200
        assert refresh(http, server, rotated["refresh_token"]).json()["error"] == "invalid_grant"
        assert introspect(http, server, rotated["access_token"]) == {"active": False}
        assert introspect(http, server, tokens["access_token"]) == {"active": False}


def test_client_a_cannot_revoke_or_introspect_client_bs_tokens(server: Server) -> None:
    other = server.seed.other_id
    with server.client() as http:
        tokens = tokens_for(server, http)
        for value in (tokens["access_token"], tokens["refresh_token"]):
            response = http.post("/revoke", data={"token": value}, auth=auth(server, other))
            assert response.status_code == 200  # RFC 7009 §2.1: no error, no effect
            assert introspect(http, server, value, other) == {"active": False}
        assert introspect(http, server, tokens["access_token"])["active"] is True
        assert refresh(http, server, tokens["refresh_token"]).status_code == 200


def test_resource_server_introspects_tokens_for_its_api(server: Server) -> None:
    with server.client() as http:
        tokens = tokens_for(server, http)
        claims = introspect(http, server, tokens["access_token"], server.seed.resource_server_id)
    assert claims["active"] is True and claims["aud"] == SENSORS


def test_concurrent_refreshes_of_one_token_succeed_exactly_once(server: Server) -> None:
    with server.client() as http:
        tokens = tokens_for(server, http)

    async def race() -> list[int]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=20) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/token",
                        data={
                            "grant_type": "refresh_token",
                            "refresh_token": tokens["refresh_token"],
                        },
                        auth=auth(server),
                    )
                    for _ in range(10)
                )
            )
        return [r.status_code for r in responses]

    statuses = asyncio.run(race())
    assert statuses.count(200) == 1, statuses
    assert statuses.count(400) == 9


def test_client_credentials_over_http(server: Server) -> None:
    with server.client() as http:
        response = http.post(
            "/token",
            data={"grant_type": "client_credentials", "scope": "read_sensors"},
            auth=auth(server, server.seed.machine_id),
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "refresh_token" not in body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == server.seed.machine_id and claims["aud"] == SENSORS


def test_revocation_feed_lists_revoked_tokens(server: Server) -> None:
    with server.client() as http:
        tokens = tokens_for(server, http)
        http.post("/revoke", data={"token": tokens["access_token"]}, auth=auth(server))
        response = http.get("/revocations", auth=auth(server, server.seed.resource_server_id))
        jwks = http.get("/jwks.json").json()
        doc = http.get("/.well-known/openid-configuration").json()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jwt")
    header = jwt.get_unverified_header(response.text)
    assert header["typ"] == "revocations+jwt"
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    feed = jwt.decode(response.text, key=jwt.PyJWK(key), algorithms=[header["alg"]])
    jti = jwt.decode(tokens["access_token"], options={"verify_signature": False})["jti"]
    assert jti in {entry["jti"] for entry in feed["revoked"]}
    assert doc["revocation_feed_endpoint"] == server.base_url + "/revocations"
    assert doc["revocation_endpoint"] == server.base_url + "/revoke"
    assert doc["introspection_endpoint"] == server.base_url + "/introspect"


def test_bad_input_on_lifecycle_endpoints(server: Server) -> None:
    with server.client() as http:
        cases = [
            http.post("/token", data={"grant_type": "refresh_token"}, auth=auth(server)),
            http.post(
                "/token",
                data={"grant_type": "refresh_token", "refresh_token": "garbage"},
                auth=auth(server),
            ),
            http.post("/revoke", data={}, auth=auth(server)),
            http.post("/introspect", data={}, auth=auth(server)),
            http.post(
                "/introspect", data={"token": "x"}, auth=(server.seed.confidential_id, "wrong")
            ),
            http.get("/revocations?since=abc", auth=auth(server)),
            http.get("/revocations"),
        ]
        garbage = introspect(http, server, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
    assert [r.status_code for r in cases] == [400, 400, 400, 400, 401, 400, 401]
    for response in cases:
        assert response.json()["error"] in {"invalid_request", "invalid_grant", "invalid_client"}
    assert garbage == {"active": False}
