"""The login and consent pages follow the contract's HTML rules."""

from __future__ import annotations

from tests.e2e.conftest import CALLBACK, Server
from tests.e2e.flows import pkce_pair
from tests.e2e.forms import parse


def start(server: Server, scope: str = "read_sensors write_sensors") -> dict[str, str]:
    _, challenge = pkce_pair()
    return {
        "response_type": "code",
        "client_id": server.seed.confidential_id,
        "redirect_uri": CALLBACK,
        "scope": scope,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


def check_page_rules(html: str, csp: str) -> None:
    page = parse(html)
    assert page.meta["viewport"] == "width=device-width, initial-scale=1"
    assert "frame-ancestors 'none'" in csp
    assert "script-src" not in csp and "'unsafe-inline'" not in csp
    assert "<script" not in html
    assert "http://" not in html.replace(CALLBACK, "") or "127.0.0.1:9000" in html
    assert len(page.forms) == 1
    form = page.forms[0]
    assert form.method == "post"
    for name, kind in form.input_types.items():
        if kind != "hidden":
            assert form.input_ids[name] in page.labels, f"input {name} has no label"
    assert all(button[0] == "submit" for button in form.buttons)


def test_login_page_contract(server: Server) -> None:
    with server.client() as http:
        started = http.get("/authorize", params=start(server))
        assert started.status_code == 303
        cookie = started.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        page = http.get(started.headers["location"])
    assert page.status_code == 200
    check_page_rules(page.text, page.headers["content-security-policy"])
    form = parse(page.text).forms[0]
    assert {"username", "password", "csrf_token", "interaction"} <= set(form.inputs)
    assert form.input_types["csrf_token"] == "hidden"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


def test_consent_page_contract(server: Server) -> None:
    with server.client() as http:
        started = http.get("/authorize", params=start(server, "write_sensors"))
        login_page = http.get(started.headers["location"])
        form = parse(login_page.text).forms[0]
        data = {
            **form.inputs,
            "username": server.seed.username,
            "password": server.seed.password,
        }
        after_login = http.post("/login", data=data)
        assert after_login.status_code == 303
        session_cookie = after_login.headers["set-cookie"]
        assert "tollhouse_session" in session_cookie and "HttpOnly" in session_cookie
        consent = http.get(after_login.headers["location"])
    assert consent.status_code == 200
    check_page_rules(consent.text, consent.headers["content-security-policy"])
    consent_form = parse(consent.text).forms[0]
    decisions = {(b[1], b[2]) for b in consent_form.buttons}
    assert decisions == {("decision", "allow"), ("decision", "deny")}
    assert "Grid-Monitor" in consent.text
    assert "write_sensors" in consent.text
    assert "127.0.0.1:9000" in consent.text
    # The browser applies form-action to the redirect that follows the post.
    assert "http://127.0.0.1:9000" in consent.headers["content-security-policy"]


def test_stylesheet_is_served_locally(server: Server) -> None:
    with server.client() as http:
        response = http.get("/static/tollhouse.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
