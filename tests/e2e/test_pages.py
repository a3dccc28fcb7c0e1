"""The pages follow the contract's HTML rules, speak the user's language, carry the
operator's name, and keep WCAG AA contrast in light and dark mode."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

import tollhouse.web
from tests.e2e.conftest import CALLBACK, Server
from tests.e2e.flows import code_params, pkce_pair
from tests.e2e.forms import parse
from tollhouse.web.messages import CATALOGUES, LOCALES


def start(server: Server, scope: str = "read_sensors write_sensors") -> dict[str, str]:
    _, challenge = pkce_pair()
    return code_params(server.seed, challenge, scope=scope)


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


# Localisation, branding and accessibility ---------------------------------------------


def login_page(server: Server, http: httpx.Client, **extra: str) -> httpx.Response:
    started = http.get("/authorize", params={**start(server), **extra})
    assert started.status_code == 303
    return http.get(started.headers["location"])


def test_pages_speak_the_language_of_ui_locales_first(server: Server) -> None:
    with server.client() as http:
        page = login_page(server, http, ui_locales="de-CH en")
    assert page.headers["content-language"] == "de"
    assert '<html lang="de">' in page.text
    assert "Benutzername" in page.text and "Passwort" in page.text


def test_pages_fall_back_to_accept_language_then_english(server: Server) -> None:
    with server.client() as http:
        default = login_page(server, http)
    assert default.headers["content-language"] == "en"
    with httpx.Client(
        base_url=server.base_url, headers={"Accept-Language": "fr;q=0.9, de;q=0.8"}
    ) as http:
        page = login_page(server, http)
    assert page.headers["content-language"] == "de"


def test_discovery_lists_every_page_locale(server: Server) -> None:
    with server.client() as http:
        doc = http.get("/.well-known/openid-configuration").json()
    assert doc["ui_locales_supported"] == list(LOCALES)
    assert {"en", "de"} <= set(doc["ui_locales_supported"])


def test_wrong_password_message_is_localised(server: Server) -> None:
    with server.client() as http:
        page = login_page(server, http, ui_locales="de")
        form = parse(page.text).forms[0]
        wrong = http.post("/login", data={**form.inputs, "username": "alice", "password": "not it"})
    assert wrong.status_code == 400
    assert "Benutzername oder Passwort ist falsch." in wrong.text
    assert 'aria-invalid="true"' in wrong.text and 'role="alert"' in wrong.text


def test_operator_name_shows_and_no_logo_is_served_by_default(server: Server) -> None:
    with server.client() as http:
        page = login_page(server, http)
        logo = http.get("/branding/logo")
    assert "· Tollhouse</title>" in page.text and "<img" not in page.text
    assert logo.status_code == 404


def test_client_name_is_escaped_on_the_page(server: Server) -> None:
    with server.client() as http:
        page = login_page(server, http)
    # The name arrives through a translated sentence: escaped, then marked bold.
    assert "<strong>Grid-Monitor</strong>" in page.text


_VARIABLE = re.compile(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})")


def _palettes() -> dict[str, dict[str, str]]:
    css = (Path(tollhouse.web.__file__).parent / "static" / "tollhouse.css").read_text()
    light_block = css.split("@media (prefers-color-scheme: dark)")[0]
    dark_block = css.split("@media (prefers-color-scheme: dark)")[1].split("}\n}")[0]
    light = dict(_VARIABLE.findall(light_block))
    return {"light": light, "dark": {**light, **dict(_VARIABLE.findall(dark_block))}}


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


TEXT_PAIRS = [
    ("fg", "card"), ("fg", "bg"), ("muted", "card"), ("err", "card"), ("err", "err-bg"),
    ("fg", "notice-bg"), ("on-accent", "accent"), ("on-accent", "accent-hover"),
]  # fmt: skip
CONTROL_PAIRS = [("border", "card"), ("focus", "card"), ("accent", "card"), ("err", "card")]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_colours_meet_wcag_aa_contrast(scheme: str) -> None:
    """WCAG 2.2 SC 1.4.3 (text 4.5:1) and 1.4.11 (controls and focus 3:1)."""
    palette = _palettes()[scheme]
    for fg, bg in TEXT_PAIRS:
        assert contrast(palette[fg], palette[bg]) >= 4.5, (scheme, fg, bg)
    for fg, bg in CONTROL_PAIRS:
        assert contrast(palette[fg], palette[bg]) >= 3.0, (scheme, fg, bg)


def test_every_locale_has_every_message() -> None:
    for locale, catalogue in CATALOGUES.items():
        assert set(catalogue) == set(CATALOGUES["en"]), locale
        for key, text in catalogue.items():
            assert set(re.findall(r"{(\w+)}", text)) == set(
                re.findall(r"{(\w+)}", CATALOGUES["en"][key])
            ), (locale, key)
