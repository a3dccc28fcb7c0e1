"""The device flow's verification page in a real browser (RFC 8628 §3.3): typing the
code, arriving from verification_uri_complete, signing in and consenting, on a
desktop and on a phone, without a console error (a CSP violation would show)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import PASSWORD, Idp
from tests.browser.test_flows import TIMEOUT_MS, sign_in, watch_console

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def device_request(idp: Idp) -> dict[str, Any]:
    response = httpx.post(
        f"{idp.base}/device_authorization",
        data={"client_id": "sensor-hub", "scope": "openid profile"},
        headers={"User-Agent": "sensor-hub/3.0"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def poll(idp: Idp, device_code: str) -> httpx.Response:
    data = {"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": "sensor-hub"}
    return httpx.post(f"{idp.base}/token", data=data)


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    made = browser.new_context(viewport={"width": 360, "height": 640}, locale="en-US")
    made.set_default_timeout(TIMEOUT_MS)
    try:
        yield made
    finally:
        made.close()


def test_typing_the_code_on_a_phone_then_sign_in_and_allow(
    idp: Idp, phone: Any, output_dir: Path
) -> None:
    started = device_request(idp)
    page = phone.new_page()
    errors = watch_console(page)
    page.goto(started["verification_uri"])
    assert page.title() == "Connect a device · Northwind Energy"
    page.screenshot(path=output_dir / "device-phone.png", full_page=True)
    page.get_by_label("Code").fill(started["user_code"].replace("-", " ").lower())
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/login?interaction=**")
    sign_in(page, "dana")
    page.wait_for_url("**/consent?interaction=**")
    assert page.get_by_text("Sensor Hub", exact=False).first.is_visible()
    assert page.get_by_text("sensor-hub/3.0", exact=False).is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=output_dir / "device-consent-phone.png", full_page=True)
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url("**/device?result=approved")
    assert page.get_by_text("Your device is connected").is_visible()
    assert errors == []
    tokens = poll(idp, started["device_code"])
    assert tokens.status_code == 200 and "id_token" in tokens.json()


def test_verification_uri_complete_asks_to_confirm_then_deny(
    idp: Idp, browser: Any, output_dir: Path
) -> None:
    desktop = browser.new_context(viewport={"width": 1024, "height": 760}, locale="en-US")
    desktop.set_default_timeout(TIMEOUT_MS)
    try:
        started = device_request(idp)
        page = desktop.new_page()
        errors = watch_console(page)
        page.goto(started["verification_uri_complete"])
        assert page.get_by_label("Code").input_value() == started["user_code"]
        assert page.get_by_text("Check that this is the code your device shows").is_visible()
        page.screenshot(path=output_dir / "device-confirm.png", full_page=True)
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url("**/login?interaction=**")
        page.get_by_label("Username").fill("erin")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/consent?interaction=**")
        page.get_by_role("button", name="Deny").click()
        page.wait_for_url("**/device?result=denied")
        assert errors == []
        assert poll(idp, started["device_code"]).json()["error"] == "access_denied"
    finally:
        desktop.close()


def test_a_wrong_code_shows_a_message_without_saying_why(idp: Idp, phone: Any) -> None:
    page = phone.new_page()
    page.goto(f"{idp.base}/device")
    page.get_by_label("Code").fill("BBBB-BBBB")
    page.get_by_role("button", name="Continue").click()
    assert page.get_by_role("alert").inner_text() == (
        "That code is not valid. Check it and try again."
    )
    assert page.get_by_label("Code").get_attribute("aria-invalid") == "true"
