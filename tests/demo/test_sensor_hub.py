"""The demo's sensor hub (demo/sensor_hub.py), a device without a browser: started by
``demo.run.running`` as ``make demo`` starts it, approved by the operator through the
IdP's real ``/device`` page (sign-in and consent over HTTP), it then sends readings to
the sensors API with its own token, refreshed as it expires (2-second tokens here)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from demo.run import Stack, hub_lines, running
from demo.settings import DemoSettings

from tests.demo.conftest import distinct_ports
from tests.demo.test_demo import operator, readings_json, sign_in
from tests.e2e.device import answer
from tests.e2e.forms import parse

ACCESS_TOKEN_TTL = 2


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
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
