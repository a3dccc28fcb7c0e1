"""The device authorization grant (RFC 8628) through a real server: the device's
requests, every error it can get, and the person's /device, login and consent pages."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import jwt
import pytest

from tests.e2e.conftest import SENSORS, Server
from tests.e2e.device import (
    DEVICE_GRANT,
    HUB,
    HUB_ORIGIN,
    TERMINAL,
    TERMINAL_SECRET,
    add_device_clients,
    answer,
    enter_code,
    expire_all,
    poll,
    start,
)
from tests.e2e.forms import parse

ALPHABET = set("BCDFGHJKLMNPQRSTVWXZ")


@pytest.fixture(scope="module")
def idp(server: Server) -> Iterator[Server]:
    add_device_clients(server.database_url)
    time.sleep(1.2)  # every server sees a new client within a second
    yield server


def approve(idp: Server, user_code: str, decision: str = "allow") -> httpx.Response:
    with idp.client() as browser:
        entered = enter_code(browser, user_code)
        return answer(
            browser,
            entered,
            username=idp.seed.username,
            password=idp.seed.password,
            decision=decision,
        )


def test_discovery_names_the_endpoint_and_the_grant(idp: Server) -> None:
    with idp.client() as http:
        doc = http.get("/.well-known/openid-configuration").json()
    assert doc["device_authorization_endpoint"] == idp.base_url + "/device_authorization"
    assert DEVICE_GRANT in doc["grant_types_supported"]


def test_device_authorization_response_follows_rfc_8628(idp: Server) -> None:
    with idp.client() as http:
        response = start(http)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert len(body["device_code"]) >= 43  # 256 bits, base64url
    code = body["user_code"]
    assert len(code) == 9 and code[4] == "-" and set(code.replace("-", "")) <= ALPHABET
    assert body["verification_uri"] == idp.base_url + "/device"
    assert body["verification_uri_complete"] == f"{idp.base_url}/device?user_code={code}"
    assert body["expires_in"] == 600 and body["interval"] == 5


def test_approval_gives_the_code_flows_tokens_once(idp: Server) -> None:
    with idp.client() as http:
        body = start(http, scope="openid read_sensors offline_access").json()
        assert poll(http, body["device_code"]).json()["error"] == "authorization_pending"
        done = approve(idp, body["user_code"])
        assert done.status_code == 200 and "result=approved" in str(done.url)
        tokens = poll(http, body["device_code"])
        assert tokens.status_code == 200, tokens.text
        again = poll(http, body["device_code"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    issued = tokens.json()
    assert issued["token_type"] == "Bearer" and "refresh_token" in issued
    access = jwt.decode(issued["access_token"], options={"verify_signature": False})
    assert access["aud"] == SENSORS and access["client_id"] == HUB
    assert access["sub"] and "read_sensors" in access["scope"].split()
    id_token = jwt.decode(issued["id_token"], options={"verify_signature": False})
    assert id_token["aud"] == HUB and id_token["amr"] == ["pwd"] and "auth_time" in id_token


def test_a_confidential_client_authenticates_and_gets_no_refresh_token(idp: Server) -> None:
    auth = (TERMINAL, TERMINAL_SECRET)
    with idp.client() as http:
        body = start(http, scope="read_sensors", auth=auth).json()
        approve(idp, body["user_code"])
        tokens = poll(http, body["device_code"], auth=auth)
    assert tokens.status_code == 200, tokens.text
    assert "refresh_token" not in tokens.json() and "id_token" not in tokens.json()


def test_the_code_is_accepted_in_any_case_with_or_without_the_dash(idp: Server) -> None:
    with idp.client() as http:
        body = start(http).json()
        typed = "  " + body["user_code"].replace("-", "").lower() + " "
        done = approve(idp, typed)
        assert "result=approved" in str(done.url)
        assert poll(http, body["device_code"]).status_code == 200


def test_verification_uri_complete_fills_in_the_code_and_asks_to_confirm(idp: Server) -> None:
    with idp.client() as http:
        body = start(http).json()
    with idp.client() as browser:
        page = browser.get(body["verification_uri_complete"])
        form = parse(page.text).forms[0]
        assert form.inputs["user_code"] == body["user_code"]
        assert form.method == "post" and "user_code" in parse(page.text).labels


def test_consent_names_where_the_device_asked_from(idp: Server) -> None:
    with idp.client() as http:
        body = start(http, headers={"User-Agent": "sensor-hub/2.1"}).json()
    with idp.client() as browser:
        response = enter_code(browser, body["user_code"])
        for _ in range(4):
            if not response.is_redirect:
                break
            response = browser.get(response.headers["location"])
        form = parse(response.text).forms[0]
        data = dict(form.inputs, username=idp.seed.username, password=idp.seed.password)
        consent = browser.post("/login", data=data)
        consent = browser.get(consent.headers["location"])
        assert "127.0.0.1" in consent.text and "sensor-hub/2.1" in consent.text
        assert "Sensor Hub" in consent.text
        # A second device in the same browser reuses the session: straight to consent.
        with idp.client() as device:
            second = start(device).json()
        entered = enter_code(browser, second["user_code"])
        assert entered.headers["location"].startswith("/consent?")


def test_deny_answers_access_denied(idp: Server) -> None:
    with idp.client() as http:
        body = start(http).json()
        done = approve(idp, body["user_code"], decision="deny")
        assert "result=denied" in str(done.url)
        denied = poll(http, body["device_code"])
    assert denied.status_code == 400 and denied.json()["error"] == "access_denied"


def test_polling_faster_than_the_interval_slows_down(idp: Server) -> None:
    with idp.client() as http:
        body = start(http).json()
        assert poll(http, body["device_code"]).json()["error"] == "authorization_pending"
        fast = poll(http, body["device_code"])
    assert fast.status_code == 400 and fast.json()["error"] == "slow_down"
    assert "10 seconds" in fast.json()["error_description"]


def test_an_expired_request_answers_expired_token(idp: Server) -> None:
    with idp.client() as http:
        body = start(http).json()
        expire_all(idp.database_url)
        expired = poll(http, body["device_code"])
        assert expired.status_code == 400 and expired.json()["error"] == "expired_token"
        with idp.client() as browser:
            wrong = enter_code(browser, body["user_code"])
    assert wrong.status_code == 400 and "not valid" in wrong.text


@pytest.mark.parametrize(
    ("data", "error", "status"),
    [
        ({"client_id": "grid-monitor"}, "invalid_client", 401),
        ({"client_id": "nobody"}, "invalid_client", 401),
        ({"scope": "read_sensors"}, "invalid_client", 401),
        ({"client_id": HUB, "scope": "launch_missiles"}, "invalid_scope", 400),
        ({"client_id": HUB, "resource": "https://nowhere.test"}, "invalid_target", 400),
        ({"client_id": HUB, "scope": "read_sensors read_billing"}, "invalid_target", 400),
        ({"client_id": HUB, "resource": "no-uri"}, "invalid_target", 400),
        ({"client_id": HUB, "scope": ["openid", "email"]}, "invalid_request", 400),
    ],
)
def test_bad_device_authorization_requests(
    idp: Server, data: dict[str, str | list[str]], error: str, status: int
) -> None:
    with idp.client() as http:
        response = http.post("/device_authorization", data=data)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error


def test_a_client_without_the_grant_is_unauthorized(idp: Server) -> None:
    seed = idp.seed
    auth = (seed.confidential_id, seed.confidential_secret)
    with idp.client() as http:
        asked = http.post("/device_authorization", data={"scope": "read_sensors"}, auth=auth)
        body = start(http).json()
        polled = poll(http, body["device_code"], auth=auth)
    assert asked.status_code == 400 and asked.json()["error"] == "unauthorized_client"
    assert polled.status_code == 400 and polled.json()["error"] == "unauthorized_client"


def test_a_wrong_secret_is_invalid_client(idp: Server) -> None:
    with idp.client() as http:
        response = start(http, auth=(TERMINAL, "wrong"))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


def test_device_codes_are_bound_to_their_client(idp: Server) -> None:
    with idp.client() as http:
        body = start(http).json()
        other = poll(http, body["device_code"], auth=(TERMINAL, TERMINAL_SECRET))
        unknown = poll(http, "not-a-device-code")
        missing = http.post("/token", data={"grant_type": DEVICE_GRANT, "client_id": HUB})
        get = http.get("/device_authorization")
    assert other.json()["error"] == "invalid_grant"
    assert unknown.json()["error"] == "invalid_grant"
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    assert get.status_code == 405


def test_the_page_follows_the_page_rules(idp: Server) -> None:
    with idp.client() as browser:
        page = browser.get("/device")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script" not in csp.replace("script-src", "") and "frame-ancestors 'none'" in csp
    parsed = parse(page.text)
    assert parsed.meta["viewport"] == "width=device-width, initial-scale=1"
    form = parsed.forms[0]
    assert form.inputs.keys() == {"csrf_token", "user_code"}
    assert form.input_ids["user_code"] in parsed.labels
    assert form.buttons == [("submit", None, None)]
    assert "<script" not in page.text


def test_a_form_without_its_csrf_token_is_refused(idp: Server) -> None:
    with idp.client() as http:
        body = start(http).json()
    with idp.client() as browser:
        browser.get("/device")
        refused = browser.post("/device", data={"user_code": body["user_code"]})
    assert refused.status_code == 400 and "form expired" in refused.text.lower()


def test_device_authorization_answers_the_clients_origin(idp: Server) -> None:
    with idp.client() as http:
        allowed = start(http, headers={"Origin": HUB_ORIGIN})
        foreign = start(http, headers={"Origin": "https://evil.test"})
        preflight = http.options(
            "/device_authorization",
            headers={"Origin": HUB_ORIGIN, "Access-Control-Request-Method": "POST"},
        )
    assert allowed.headers["access-control-allow-origin"] == HUB_ORIGIN
    assert "access-control-allow-origin" not in foreign.headers
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == HUB_ORIGIN
