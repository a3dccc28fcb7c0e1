"""The demo's sensor hub (demo/sensor_hub.py), a device without a browser: started by
``demo.run.running`` as ``make demo`` starts it, approved by the operator through the
IdP's real ``/device`` page (sign-in and consent over HTTP), it then sends readings to
the sensors API with its own token, refreshed as it expires (2-second tokens here)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from demo.run import Stack, hub_lines, running
from demo.settings import DemoSettings

from tests.demo.conftest import distinct_ports
from tests.demo.test_demo import operator, readings_json, sign_in
from tests.e2e.device import answer, poll, start
from tests.e2e.forms import parse

ACCESS_TOKEN_TTL = 2


def start_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    idp, client, api, field, hub = distinct_ports(5)
    settings = DemoSettings(idp, client, api, tmp_path_factory.mktemp("hub"), field, hub)
    env = {
        "TOLLHOUSE_ACCESS_TOKEN_TTL": str(ACCESS_TOKEN_TTL),
        "TOLLHOUSE_TEST_FAST_HASH": "1",
        "TOLLHOUSE_DEVICE_INTERVAL": "1",
        "TOLLHOUSE_LOG_LEVEL": "warning",
    }
    with running(settings, env) as started:
        yield started


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from start_stack(tmp_path_factory)


@pytest.fixture(scope="module")
def fresh_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own: the hub of ``stack`` is approved once, over HTTP. Started
    before ``browser`` (named first), whose Playwright loop would forbid asyncio.run."""
    yield from start_stack(tmp_path_factory)


def hub_status(stack: Stack) -> dict[str, Any]:
    status: dict[str, Any] = httpx.get(f"{stack.settings.hub_url}/status.json").json()
    return status


def wait_for(stack: Stack, done: Any, seconds: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = hub_status(stack)
        if done(status):
            return status
        time.sleep(0.3)
    raise AssertionError(f"the hub did not get there: {hub_status(stack)}")


def test_the_hub_shows_its_code_and_waits(stack: Stack) -> None:
    status = wait_for(stack, lambda s: s["user_code"])
    assert status["state"] == "waiting"
    issuer = stack.settings.issuer
    assert status["verification_uri"] == f"{issuer}/device"
    assert status["verification_uri_complete"].startswith(f"{issuer}/device?user_code=")
    page = httpx.get(f"{stack.settings.hub_url}/")
    assert status["user_code"] in page.text and "<script" not in page.text
    assert any(status["user_code"] in line for line in hub_lines(stack.settings))
    log = (stack.settings.data_dir / "logs" / "sensor-hub.log").read_text()
    assert f"enter {status['user_code']}" in log
    # The API refuses readings without a token carrying send_readings.
    refused = httpx.post(f"{stack.settings.api_url}/readings", json={"sensor": "x", "value": 1})
    assert refused.status_code == 401 and "www-authenticate" in refused.headers


def test_approved_hub_sends_readings_with_its_token(stack: Stack) -> None:
    status = wait_for(stack, lambda s: s["user_code"])
    creds = stack.credentials
    with httpx.Client(timeout=15) as browser:
        confirm = browser.get(status["verification_uri_complete"])
        assert confirm.status_code == 200 and status["user_code"] in confirm.text
        form = parse(confirm.text).forms[0]
        submitted = browser.post(f"{stack.settings.issuer}/device", data=form.inputs)
        done = answer(browser, submitted, username=creds.username, password=creds.password)
        assert str(done.url).endswith("/device?result=approved"), done.text
        # Two refreshes at least: the hub kept each rotated refresh token.
        sending = wait_for(stack, lambda s: s["state"] == "sending" and s["refreshes"] >= 2)
        assert sending["sent"] >= 1 and sending["user_code"] is None
        # The operator, signed in at Grid-Monitor (single sign-on), sees what the API
        # received: the hub's reading, carrying the subject of the hub's token.
        sign_in(stack, browser, operator(stack), expect_consent=True)
        body = readings_json(stack, browser)
        page = browser.get(f"{stack.settings.client_url}/readings").text
    reported = {r["id"]: r for r in body["reported"]}
    hub = reported["hub-north-ambient"]
    assert hub["client_id"] == "sensor-hub" and hub["subject"] == body["subject"]
    assert hub["subject"] == sending["subject"]
    # Grid-Monitor shows it under "Reported by devices".
    assert 'data-reported="hub-north-ambient"' in page and "Substation North ambient" in page


def test_operator_approves_the_hub_in_chromium(
    fresh_stack: Stack, browser: Any, tmp_path: Path
) -> None:
    """The demo as a person does it: the hub's page, its link, sign-in and consent at
    the IdP, then Grid-Monitor's page listing the hub's readings (monitor.js)."""
    stack, creds = fresh_stack, fresh_stack.credentials
    wait_for(stack, lambda s: s["user_code"])
    context = browser.new_context(viewport={"width": 1000, "height": 820}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        page.goto(f"{stack.settings.hub_url}/")
        page.screenshot(path=str(tmp_path / "hub-waiting.png"))
        page.locator("a[href*='/device?user_code=']").click()
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url("**/login?interaction=**")
        page.get_by_label("Username").fill(creds.username)
        page.get_by_label("Password").fill(creds.password)
        page.locator("button[type=submit]").click()
        page.wait_for_url("**/consent?interaction=**")
        assert page.get_by_text("Sensor hub", exact=False).first.is_visible()
        assert page.get_by_text("127.0.0.1", exact=False).first.is_visible()
        assert page.get_by_text("sensor-hub/1.0", exact=False).first.is_visible()
        page.screenshot(path=str(tmp_path / "hub-consent.png"), full_page=True)
        page.locator("button[name=decision][value=allow]").click()
        page.wait_for_url("**/device?result=approved")

        page.goto(f"{stack.settings.client_url}/")
        page.get_by_role("link", name="Sign in with Tollhouse").click()
        page.wait_for_url(f"{stack.settings.issuer}/consent?*")  # signed in already (SSO)
        page.locator("button[name=decision][value=allow]").click()
        page.wait_for_url(f"{stack.settings.client_url}/readings")
        row = page.locator('tr[data-reported="hub-north-ambient"]')
        row.wait_for(timeout=20_000)  # rendered by the server or by monitor.js
        assert "sensor-hub" in row.inner_text()
        page.screenshot(path=str(tmp_path / "hub-readings.png"), full_page=True)
        page.goto(f"{stack.settings.hub_url}/")
        assert "Connected" in page.locator("body").inner_text()
        assert problems == []
    finally:
        context.close()


def test_the_api_checks_reports_and_their_scope(stack: Stack) -> None:
    """A device token of its own (the hub's client, approved over HTTP): bodies that do
    not fit get 400, and send_readings does not let it read (403)."""
    creds = stack.credentials
    with httpx.Client(base_url=stack.settings.issuer, timeout=15) as device:
        started = start(device, scope="send_readings").json()
        with httpx.Client(timeout=15) as browser:
            form = parse(browser.get(started["verification_uri_complete"]).text).forms[0]
            submitted = browser.post(f"{stack.settings.issuer}/device", data=form.inputs)
            done = answer(browser, submitted, username=creds.username, password=creds.password)
            assert str(done.url).endswith("/device?result=approved")
        tokens = poll(device, started["device_code"]).json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    readings = f"{stack.settings.api_url}/readings"
    for body in ({"sensor": "Bad Id!", "value": 1}, {"sensor": "ok", "value": "NaN"}, [1]):
        refused = httpx.post(readings, json=body, headers=auth)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"
    not_json = httpx.post(readings, content=b"{", headers=auth)
    assert not_json.status_code == 400
    accepted = httpx.post(readings, json={"sensor": "probe-1", "value": 2.5}, headers=auth)
    assert accepted.status_code == 201 and accepted.json()["client_id"] == "sensor-hub"
    forbidden = httpx.get(readings, headers=auth)
    assert forbidden.status_code == 403
    assert 'error="insufficient_scope"' in forbidden.headers["www-authenticate"]
