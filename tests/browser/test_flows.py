"""What a person does in a real browser: sign in, consent, single sign-on, logout,
deny, a wrong password, prompt=login; and how the pages look (screenshots)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.browser.conftest import PASSWORD, Idp

TIMEOUT_MS = 15_000


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile (no cookies) per test."""
    made = browser.new_context(viewport={"width": 1024, "height": 760}, locale="en-US")
    made.set_default_timeout(TIMEOUT_MS)
    try:
        yield made
    finally:
        made.close()


def watch_console(page: Any) -> list[str]:
    """Collect console errors (a CSP violation shows up here)."""
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    return errors


def sign_in(page: Any, username: str, password: str = PASSWORD) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def at_callback(page: Any, idp: Idp, path: str) -> dict[str, str]:
    page.wait_for_url(f"{idp.callbacks.base}{path}?**")
    return idp.callbacks.last(path)


def test_sign_in_consent_sso_and_logout_of_both_clients(
    idp: Idp, context: Any, output_dir: Path
) -> None:
    page = context.new_page()
    errors = watch_console(page)

    page.goto(idp.authorize_url("app-a"))
    page.wait_for_url("**/login?interaction=**")
    assert page.title() == "Sign in · Northwind Energy"
    assert page.get_by_text("to continue to Meter Dashboard").is_visible()
    # The operator's logo is served by the IdP itself and allowed by the CSP.
    assert page.evaluate("document.querySelector('img.logo').naturalWidth") > 0
    page.screenshot(path=output_dir / "login.png", full_page=True)
    sign_in(page, "dana")

    page.wait_for_url("**/consent?interaction=**")
    assert page.get_by_role("heading", name="Allow access?").is_visible()
    assert page.get_by_text("See your name and username").is_visible()
    assert page.get_by_text("See your email address").is_visible()
    assert page.get_by_text(idp.callbacks.base.removeprefix("http://")).is_visible()
    page.screenshot(path=output_dir / "consent.png", full_page=True)
    page.get_by_role("button", name="Allow").click()
    first = at_callback(page, idp, "/app-a/cb")
    assert first["state"] == "state-app-a" and "code" in first

    # Single sign-on: the second client asks for consent but never for the password.
    visited: list[str] = []
    page.on("request", lambda request: visited.append(request.url))
    page.goto(idp.authorize_url("app-b"))
    page.wait_for_url("**/consent?interaction=**")
    assert page.get_by_text("Billing Portal").first.is_visible()
    page.get_by_role("button", name="Allow").click()
    assert "code" in at_callback(page, idp, "/app-b/cb")
    assert not any("/login" in url for url in visited)

    # RP-initiated logout, confirmed on our page, ends the session for both clients.
    bye = f"{idp.callbacks.base}/app-a/bye"
    query = urlencode({"client_id": "app-a", "post_logout_redirect_uri": bye, "state": "bye"})
    page.goto(f"{idp.base}/logout?{query}")
    assert page.get_by_role("heading", name="Sign out?").is_visible()
    page.screenshot(path=output_dir / "logout.png", full_page=True)
    page.get_by_role("button", name="Sign out").click()
    assert at_callback(page, idp, "/app-a/bye")["state"] == "bye"
    for client_id in ("app-a", "app-b"):
        page.goto(idp.authorize_url(client_id, prompt="none"))
        assert at_callback(page, idp, f"/{client_id}/cb")["error"] == "login_required"
    assert errors == []


def test_deny_consent_sends_access_denied(idp: Idp, context: Any) -> None:
    page = context.new_page()
    page.goto(idp.authorize_url("app-b", scope="openid email offline_access"))
    sign_in(page, "erin")
    page.wait_for_url("**/consent?interaction=**")
    assert page.get_by_text("Keep access when you are not signed in").is_visible()
    page.get_by_role("button", name="Deny").click()
    result = at_callback(page, idp, "/app-b/cb")
    assert result["error"] == "access_denied" and result["state"] == "state-app-b"


def test_wrong_password_shows_a_message_and_keeps_the_username(
    idp: Idp, context: Any, output_dir: Path
) -> None:
    page = context.new_page()
    page.goto(idp.authorize_url("app-a"))
    sign_in(page, "fran", password="not the password")
    alert = page.get_by_role("alert")
    assert alert.inner_text() == "Incorrect username or password."
    assert page.get_by_label("Username").input_value() == "fran"
    assert page.get_by_label("Password").get_attribute("aria-invalid") == "true"
    # The password field has the focus for the next try, with a visible outline.
    assert page.evaluate("document.activeElement.id") == "password"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.screenshot(path=output_dir / "login-wrong-password.png", full_page=True)
    sign_in(page, "fran")
    page.wait_for_url("**/consent?interaction=**")


def test_prompt_login_asks_for_the_password_again(idp: Idp, context: Any) -> None:
    page = context.new_page()
    page.goto(idp.authorize_url("app-a"))
    sign_in(page, "gus")
    page.wait_for_url("**/consent?interaction=**")
    page.get_by_role("button", name="Allow").click()
    at_callback(page, idp, "/app-a/cb")

    page.goto(idp.authorize_url("app-a", prompt="login"))
    page.wait_for_url("**/login?interaction=**")
    assert page.get_by_text("Please sign in again to continue.").is_visible()
    sign_in(page, "gus")
    # Consent is remembered: straight back to the client with a code.
    assert "code" in at_callback(page, idp, "/app-a/cb")


def test_pages_in_german_dark_mode_and_on_a_phone(idp: Idp, browser: Any, output_dir: Path) -> None:
    phone = browser.new_context(
        viewport={"width": 375, "height": 700}, locale="de-DE", color_scheme="dark"
    )
    phone.set_default_timeout(TIMEOUT_MS)
    try:
        page = phone.new_page()
        errors = watch_console(page)
        page.goto(idp.authorize_url("app-b"))
        assert page.get_by_role("heading", name="Anmelden").is_visible()
        assert page.locator("html").get_attribute("lang") == "de"
        page.screenshot(path=output_dir / "login-de-dark-phone.png", full_page=True)
        page.get_by_label("Benutzername").fill("hana")
        page.get_by_label("Passwort").fill(PASSWORD)
        page.get_by_role("button", name="Anmelden").click()
        page.wait_for_url("**/consent?interaction=**")
        assert page.get_by_role("button", name="Erlauben").is_visible()
        # Nothing scrolls sideways on a narrow screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.screenshot(path=output_dir / "consent-de-dark-phone.png", full_page=True)
        assert errors == []
    finally:
        phone.close()


def test_error_and_signed_out_pages(idp: Idp, context: Any, output_dir: Path) -> None:
    page = context.new_page()
    response = page.goto(idp.authorize_url("no-such-app"))
    assert response is not None and response.status == 400
    assert page.get_by_role("heading", name="This sign-in link cannot be used").is_visible()
    page.screenshot(path=output_dir / "error.png", full_page=True)
    page.goto(f"{idp.base}/logout")
    assert page.get_by_role("heading", name="You are signed out").is_visible()
    page.screenshot(path=output_dir / "signed-out.png", full_page=True)


def test_a_self_registered_client_gets_a_notice_and_consent_every_time_on_a_phone(
    idp: Idp, browser: Any, output_dir: Path
) -> None:
    phone = browser.new_context(viewport={"width": 375, "height": 700}, locale="en-US")
    phone.set_default_timeout(TIMEOUT_MS)
    try:
        page = phone.new_page()
        errors = watch_console(page)
        host = idp.callbacks.base.removeprefix("http://")
        page.goto(idp.authorize_url("app-c"))
        sign_in(page, "ivo")
        page.wait_for_url("**/consent?interaction=**")
        assert page.get_by_text("was registered by a third party").is_visible()
        page.screenshot(path=output_dir / "consent-third-party-phone.png", full_page=True)
        page.get_by_role("button", name="Allow").click()
        assert "code" in at_callback(page, idp, "/app-c/cb")
        page.goto(idp.authorize_url("app-c"))  # asked again, signed in or not
        page.wait_for_url("**/consent?interaction=**")

        bye = f"{idp.callbacks.base}/app-c/bye"
        query = urlencode({"client_id": "app-c", "post_logout_redirect_uri": bye, "state": "s"})
        page.goto(f"{idp.base}/logout?{query}")
        page.get_by_role("button", name="Sign out").click()
        assert page.get_by_role("heading", name="You are leaving Northwind Energy").is_visible()
        assert page.get_by_text("registered by a third party").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.screenshot(path=output_dir / "leaving-phone.png", full_page=True)
        page.get_by_role("link", name=f"Continue to {host}").click()
        assert at_callback(page, idp, "/app-c/bye") == {"state": "s"}
        assert errors == []
    finally:
        phone.close()
