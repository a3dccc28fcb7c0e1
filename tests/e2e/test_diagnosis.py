"""Diagnosing failures over real HTTP: the access log names the RFC error code of every
4xx, the development-mode mismatch page names the nearest redirect URI, and
``/openapi.json`` describes the JSON endpoints."""

from __future__ import annotations

import html
import json
import time

import httpx
import pytest

from tests.e2e.conftest import CALLBACK, Server


def access_lines(server: Server, request_ids: set[str]) -> dict[str, dict[str, object]]:
    """The access log line of each request id (waits briefly: logging is asynchronous)."""
    found: dict[str, dict[str, object]] = {}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for raw in server.logs().splitlines():
            if not raw.startswith("{"):
                continue
            line = json.loads(raw)
            if line.get("logger") == "tollhouse.access" and line.get("request_id") in request_ids:
                found[str(line["request_id"])] = line
        if set(found) == request_ids:
            break
        time.sleep(0.05)
    return found


def test_access_log_names_the_rfc_error_code_of_every_4xx(server: Server) -> None:
    seed = server.seed
    good = (seed.confidential_id, seed.confidential_secret)
    with server.client() as http:
        responses = [
            http.get("/authorize", params={"client_id": "nobody", "response_type": "code"}),
            http.post("/token", data={"grant_type": "client_credentials"}),
            http.post("/token", json={"grant_type": "client_credentials"}),
            http.post("/token", data={"grant_type": "password"}, auth=good),
            http.post("/token", data={"grant_type": "authorization_code", "code": "x"}, auth=good),
            http.get("/token"),
            http.post("/revoke", data={"token": "x"}, auth=(seed.confidential_id, "wrong")),
            http.post("/introspect", data={}, auth=good),
            http.get("/login"),
            http.get("/userinfo", headers={"Authorization": "Bearer not-a-token"}),
        ]
    expected = []
    for response in responses:
        assert 400 <= response.status_code < 500, (response.request.url, response.status_code)
        challenge = response.headers.get("www-authenticate", "")
        if 'error="' in challenge:  # RFC 6750 §3: the code is in the challenge
            code = challenge.split('error="')[1].split('"')[0]
        elif response.headers["content-type"].startswith("application/json"):
            code = response.json()["error"]
        else:
            code = html.unescape(response.text).split("Error <code>")[1].split("</code>")[0]
        expected.append((response.headers["x-request-id"], response.status_code, code))
    lines = access_lines(server, {request_id for request_id, _, _ in expected})
    for request_id, status, code in expected:
        assert lines[request_id]["status"] == status
        assert lines[request_id]["error"] == code, lines[request_id]
    assert {code for _, _, code in expected} >= {
        "invalid_client",
        "invalid_request",
        "unsupported_grant_type",
        "invalid_grant",
        "invalid_token",
    }


def test_access_log_of_a_success_carries_no_error_field(server: Server) -> None:
    with server.client() as http:
        response = http.get("/jwks.json")
    request_id = response.headers["x-request-id"]
    line = access_lines(server, {request_id})[request_id]
    assert line["status"] == 200 and "error" not in line


@pytest.mark.parametrize(
    ("sent", "difference"),
    [
        (CALLBACK + "/", "trailing slash differs"),
        (CALLBACK.replace(":9000", ":9001"), "port differs (9001 sent, 9000 registered)"),
        (CALLBACK.replace("http:", "https:"), "scheme differs (https sent, http registered)"),
        (CALLBACK.replace("/callback", "/Callback"), "path case differs"),
        (CALLBACK + "?next=1", "query differs"),
    ],
)
def test_mismatch_page_names_the_nearest_registered_uri_in_development_mode(
    server: Server, sent: str, difference: str
) -> None:
    with server.client() as http:
        response = http.get(
            "/authorize",
            params={
                "client_id": server.seed.confidential_id,
                "redirect_uri": sent,
                "response_type": "code",
            },
        )
    assert response.status_code == 400
    assert "location" not in response.headers
    text = html.unescape(response.text)
    assert f"Nearest registered redirect URI: {CALLBACK} ({difference})." in text
    assert "Correlation id" in text


def test_openapi_document_describes_the_json_endpoints(server: Server) -> None:
    response = httpx.get(f"{server.base_url}/openapi.json", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    doc = response.json()
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"] == [{"url": server.base_url}]
    assert {"/token", "/revoke", "/introspect", "/jwks.json"} <= set(doc["paths"])
    assert "/authorize" not in doc["paths"]  # a browser page, not JSON
