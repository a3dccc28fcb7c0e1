"""Two-step sign-in in a real browser (issue 26): a user sets up an authenticator on
/account/security (QR code and key, confirmed with a first code), then signs in with
password + TOTP, and with a recovery code. Codes are computed with pyotp. Screenshots
of each page on desktop and phone; no page runs a script."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.browser.conftest import Idp
from tests.browser.test_flows import at_callback, sign_in, watch_console

TIMEOUT_MS = 15_000
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1024, "height": 760}


@pytest.fixture
def new_context(browser: Any) -> Iterator[Any]:
    made: list[Any] = []

    def open_context(viewport: dict[str, int] = DESKTOP) -> Any:
        context = browser.new_context(viewport=viewport, locale="en-US")
        context.set_default_timeout(TIMEOUT_MS)
        made.append(context)
        return context

    try:
        yield open_context
    finally:
        for context in made:
            context.close()


def shoot(page: Any, output_dir: Path, name: str) -> None:
    page.screenshot(path=output_dir / f"{name}.png", full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=output_dir / f"{name}-phone.png", full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name} scrolls sideways on a phone"
    page.set_viewport_size(DESKTOP)


def next_code(totp: pyotp.TOTP) -> str:
    """The code of the next time step: the current one may have been used already
    (a code works once), and one step ahead is accepted."""
    return totp.at(time.time() + 30)


def enroll(idp: Idp, context: Any, output_dir: Path) -> tuple[pyotp.TOTP, list[str]]:
    page = context.new_page()
    errors = watch_console(page)
    page.goto(idp.authorize_url("app-a"))
    sign_in(page, "dana")
    page.get_by_role("button", name="Allow").click()
    at_callback(page, idp, "/app-a/cb")

    page.goto(f"{idp.base}/account/security")
    assert page.get_by_text("Two-step verification is off.").is_visible()
    page.get_by_role("button", name="Set up an authenticator app").click()
    assert page.locator("figure.qr svg").is_visible()
    assert page.get_by_role("img", name="QR code for your authenticator app").is_visible()
    secret = page.locator("#totp-secret").inner_text().strip()
    shoot(page, output_dir, "mfa-enroll")
    totp = pyotp.TOTP(secret)
    page.get_by_role("textbox", name="Verification code").fill(totp.now())
    page.get_by_role("button", name="Confirm and continue").click()
    assert page.get_by_text("Your authenticator app is set up.").is_visible()
    codes = [c.strip() for c in page.locator("ul.codes code").all_inner_texts()]
    assert len(codes) == 10
    shoot(page, output_dir, "mfa-recovery-codes")
    assert page.evaluate("document.scripts.length") == 0
    assert errors == []
    return totp, codes


def test_password_and_totp_then_a_recovery_code(
    idp: Idp, new_context: Any, output_dir: Path
) -> None:
    totp, codes = enroll(idp, new_context(), output_dir)

    page = new_context().new_page()
    errors = watch_console(page)
    page.goto(idp.authorize_url("app-b"))
    sign_in(page, "dana")
    page.wait_for_url("**/otp?interaction=**")
    assert page.get_by_role("heading", name="Enter your verification code").is_visible()
    shoot(page, output_dir, "mfa-otp")
    page.get_by_role("textbox", name="Verification code").fill(
        "000000" if totp.now() != "000000" else "111111"
    )
    page.get_by_role("button", name="Verify").click()
    assert page.get_by_role("alert").is_visible()
    page.get_by_role("textbox", name="Verification code").fill(next_code(totp))
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("button", name="Allow").click()
    assert "code" in at_callback(page, idp, "/app-b/cb")
    # The one error is the refused code's 400; no CSP violation.
    assert [e for e in errors if "status of 400" not in e] == []

    # A recovery code instead of the app, on a phone.
    phone = new_context(PHONE).new_page()
    phone.goto(idp.authorize_url("app-a"))
    sign_in(phone, "dana")
    phone.wait_for_url("**/otp?interaction=**")
    phone.get_by_role("textbox", name="Verification code").fill(codes[0])
    phone.get_by_role("button", name="Verify").click()
    assert "code" in at_callback(phone, idp, "/app-a/cb")
