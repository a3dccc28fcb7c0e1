"""The Grid-Monitor demo (``make demo``, docs/demo.md) works end to end.

One stack for the module, started by ``demo.run.running`` exactly as ``make demo`` does
(IdP with ``--seed-demo --insecure-http``, the sensors API, Grid-Monitor, the field technician page) on free ports,
with 2-second access tokens so that refreshes happen during the tests. Each test signs
in as its own user, so a consent remembered by one does not hide the page from another.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from demo.run import Stack, running
from demo.settings import DemoSettings

from tests.demo.conftest import distinct_ports
from tests.e2e.conftest import HASHER
from tests.e2e.flows import Callback, browse, exchange, pkce_pair
from tests.e2e.forms import parse
from tollhouse.models import AuthMethod, Client, GrantType, User
from tollhouse.storage.sql.storage import open_storage

ACCESS_TOKEN_TTL = 2
TOKEN_REQUESTS = "tollhouse_token_requests_total"


@dataclass(frozen=True)
class Person:
    username: str
    password: str
    name: str


PLANNER = Person("planner", "planner's long passphrase", "Pat Planner")
DISPATCHER = Person("dispatcher", "dispatcher's long passphrase", "Dana Dispatcher")
PROBE_ID = "revocation-probe"
PROBE_SECRET = "probe-secret-" + "p" * 30


async def add_people(settings: DemoSettings) -> None:
    """Two more users, and a client whose tokens outlive the 2-second default (tokens
    revoked after their exp are not in the feed; see the revocation test)."""
    storage = await open_storage(f"sqlite:///{settings.data_dir / 'tollhouse.db'}")
    try:
        await storage.add_client(
            Client(
                PROBE_ID,
                "Revocation probe",
                (settings.redirect_uri,),
                (GrantType.AUTHORIZATION_CODE,),
                AuthMethod.CLIENT_SECRET_BASIC,
                int(time.time()),
                HASHER.hash(PROBE_SECRET),
                scopes=("read_sensors",),
                access_token_ttl=120,
            )
        )
        for person in (PLANNER, DISPATCHER):
            await storage.add_user(
                User(
                    f"{person.username}-id",
                    person.username,
                    HASHER.hash(person.password),
                    int(time.time()),
                    email=f"{person.username}@grid-monitor.test",
                    name=person.name,
                )
            )
    finally:
        await storage.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    idp, client, api, field, hub = distinct_ports(5)
    settings = DemoSettings(idp, client, api, tmp_path_factory.mktemp("demo"), field, hub)
    env = {
        "TOLLHOUSE_ACCESS_TOKEN_TTL": str(ACCESS_TOKEN_TTL),
        "TOLLHOUSE_TEST_FAST_HASH": "1",
        "TOLLHOUSE_LOG_LEVEL": "warning",
    }
    with running(settings, env) as started:
        asyncio.run(add_people(started.settings))
        yield started


def operator(stack: Stack) -> Person:
    return Person(stack.credentials.username, stack.credentials.password, "Grid Operator")


def sign_in(
    stack: Stack, http: httpx.Client, person: Person, *, expect_consent: bool
) -> httpx.Response:
    """Grid-Monitor → IdP login form → consent → Grid-Monitor /callback; returns the
    callback's response."""
    started = http.get(f"{stack.settings.client_url}/login")
    assert started.status_code == 303
    authorize = urlsplit(started.headers["location"])
    assert f"{authorize.scheme}://{authorize.netloc}" == stack.settings.issuer
    query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    assert set(query["scope"].split()) >= {"openid", "read_sensors", "offline_access"}
    assert query["redirect_uri"] == stack.settings.redirect_uri

    response = http.get(started.headers["location"])
    for _ in range(10):
        if response.is_redirect:
            location = urljoin(str(response.url), response.headers["location"])
            if location.startswith(stack.settings.redirect_uri):
                break
            response = http.get(location)
            continue
        assert response.status_code == 200, response.text
        form = parse(response.text).forms[0]
        data = dict(form.inputs)
        if "password" in form.inputs:
            data.update(username=person.username, password=person.password)
        else:
            assert expect_consent, "a consent page was not expected"
            assert "Grid-Monitor" in response.text and "read_sensors" in response.text
            data["decision"] = "allow"
            expect_consent = False
        response = http.post(urljoin(str(response.url), form.action or ""), data=data)
    else:
        raise AssertionError("the sign-in did not come back to Grid-Monitor")
    assert not expect_consent, "the consent page was not shown"
    callback = response.headers["location"]
    assert callback.startswith(f"{stack.settings.redirect_uri}?"), callback
    params = parse_qs(urlsplit(callback).query)
    assert params["state"] == [query["state"]] and params["iss"] == [stack.settings.issuer]
    return http.get(callback)


def readings_json(stack: Stack, http: httpx.Client) -> dict[str, Any]:
    response = http.get(f"{stack.settings.client_url}/readings.json")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def metric(stack: Stack, name: str, **labels: str) -> float:
    """The sum of the IdP's Prometheus samples of ``name`` that carry ``labels``."""
    text = httpx.get(f"{stack.settings.issuer}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample.split("{")[0] != name:
            continue
        if all(f'{key}="{wanted}"' in sample for key, wanted in labels.items()):
            total += float(value)
    return total


def test_sign_in_shows_readings_and_expired_tokens_are_refreshed(stack: Stack) -> None:
    with httpx.Client(timeout=15) as http:
        home = http.get(f"{stack.settings.client_url}/")
        assert home.status_code == 200 and 'href="/login"' in home.text

        callback = sign_in(stack, http, operator(stack), expect_consent=True)
        assert callback.status_code == 303 and callback.headers["location"] == "/readings"
        cookie = callback.headers["set-cookie"]
        assert cookie.startswith("grid_monitor_session=") and "HttpOnly" in cookie
        assert "samesite=lax" in cookie.lower()

        page = http.get(f"{stack.settings.client_url}/readings")
        assert page.status_code == 200
        assert page.text.count("<tr data-sensor=") == 6
        assert "Grid Operator" in page.text and "operator@grid-monitor.test" in page.text
        assert '<script src="/static/monitor.js"' in page.text
        assert "<script>" not in page.text  # no inline script
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp

        first = readings_json(stack, http)
        assert len(first["readings"]) == 6 and first["token"]["refreshes"] == 0
        assert first["client_id"] == "grid-monitor"
        before = metric(stack, TOKEN_REQUESTS, grant_type="refresh_token", status="ok")
        # Two expiries in a row: the second refresh works only if Grid-Monitor kept the
        # rotated refresh token (a replayed one would revoke the whole family).
        for expected in (1, 2):
            time.sleep(ACCESS_TOKEN_TTL)
            later = readings_json(stack, http)
            assert later["token"]["refreshes"] == expected
            assert len(later["readings"]) == 6 and later["subject"] == first["subject"]
        after = metric(stack, TOKEN_REQUESTS, grant_type="refresh_token", status="ok")
        assert after - before == 2
        assert metric(stack, "tollhouse_refresh_replays_total") == 0


def test_sign_out_revokes_and_ends_the_idp_session(stack: Stack) -> None:
    client = stack.settings.client_url
    with httpx.Client(timeout=15) as http:
        sign_in(stack, http, PLANNER, expect_consent=True)
        page = http.get(f"{client}/readings")
        csrf = parse(page.text).forms[0].inputs["csrf_token"]

        forged = http.post(f"{client}/logout", data={"csrf_token": "x" * len(csrf)})
        assert forged.status_code == 400

        out = http.post(f"{client}/logout", data={"csrf_token": csrf})
        assert out.status_code == 303
        end_session = urlsplit(out.headers["location"])
        assert out.headers["location"].startswith(f"{stack.settings.issuer}/logout?")
        query = {k: v[0] for k, v in parse_qs(end_session.query).items()}
        assert query["post_logout_redirect_uri"] == f"{client}/"
        assert query["id_token_hint"].count(".") == 2

        # A valid id_token_hint for the signed-in user: the IdP logs out without asking.
        back = http.get(out.headers["location"])
        assert back.status_code == 303
        assert back.headers["location"] == f"{client}/?state={query['state']}"
        home = http.get(back.headers["location"])
        assert "You have signed out of Grid-Monitor and of the identity provider" in home.text
        assert http.get(f"{client}/readings.json").status_code == 401

        # The IdP session is gone: signing in again asks for the password.
        authorize = http.get(http.get(f"{client}/login").headers["location"])
        assert authorize.status_code == 303
        login_page = http.get(urljoin(str(authorize.url), authorize.headers["location"]))
        assert "password" in parse(login_page.text).forms[0].inputs


def test_callback_not_started_here_or_with_another_state_is_refused(stack: Stack) -> None:
    client = stack.settings.client_url
    with httpx.Client(timeout=15) as http:
        cold = http.get(f"{client}/callback", params={"code": "x", "state": "y"})
        assert cold.status_code == 400 and "not started here" in cold.text

        http.get(f"{client}/login")  # a pending sign-in with its own state
        forged = http.get(
            f"{client}/callback",
            params={"code": "x", "state": "forged", "iss": stack.settings.issuer},
        )
        assert forged.status_code == 400
        assert "does not belong to this browser session" in forged.text


def test_sensors_api_refuses_requests_without_a_valid_token(stack: Stack) -> None:
    api = stack.settings.api_url
    missing = httpx.get(f"{api}/readings", timeout=10)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer realm=")
    forged = httpx.get(f"{api}/readings", headers={"Authorization": "Bearer a.b.c"}, timeout=10)
    assert forged.status_code == 401
    assert 'error="invalid_token"' in forged.headers["www-authenticate"]


NUMBER_FORMATS = {
    "grid-frequency": r"\d+\.\d{3}",
    "north-bus-voltage": r"\d+\.\d",
    "battery-b1-soc": r"\d+",
}
"""A reading shows its sensor's decimals, whoever rendered it: "78 %", never "78.0 %"."""


def assert_one_number_format(page: Any) -> None:
    for sensor, pattern in NUMBER_FORMATS.items():
        shown = page.locator(f'tr[data-sensor="{sensor}"] .value').inner_text()
        assert re.fullmatch(pattern, shown), (sensor, shown)


def test_browser_round_trip_shows_live_readings(stack: Stack, browser: Any, tmp_path: Path) -> None:
    client = stack.settings.client_url
    context = browser.new_context(viewport={"width": 1000, "height": 820})
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        page.goto(f"{client}/")
        page.get_by_role("link", name="Sign in with Tollhouse").click()
        page.wait_for_url(f"{stack.settings.issuer}/login?*")
        page.get_by_label("Username").fill(DISPATCHER.username)
        page.get_by_label("Password").fill(DISPATCHER.password)
        page.locator("button[type=submit]").click()
        page.wait_for_url(f"{stack.settings.issuer}/consent?*")
        page.screenshot(path=str(tmp_path / "consent.png"))
        page.locator("button[name=decision][value=allow]").click()
        page.wait_for_url(f"{client}/readings")
        assert page.locator("#user-name").inner_text() == DISPATCHER.name
        assert page.locator("tr[data-sensor]").count() == 6
        assert_one_number_format(page)

        # Live: monitor.js polls, and the access token is refreshed as it expires.
        first = page.locator("#generated-at").get_attribute("datetime")
        page.wait_for_function(
            "() => Number(document.getElementById('token-refreshes').textContent) >= 1",
            timeout=15_000,
        )
        page.wait_for_function(
            "(first) => document.getElementById('generated-at').dateTime !== first",
            arg=first,
            timeout=15_000,
        )
        assert page.locator("#api-error").is_hidden()
        assert_one_number_format(page)  # as monitor.js renders it: the same format
        page.screenshot(path=str(tmp_path / "readings.png"), full_page=True)
        cookies = {c["name"]: c for c in context.cookies(client)}
        assert cookies["grid_monitor_session"]["httpOnly"] is True

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{client}/?state=*")
        assert "You have signed out" in page.locator("main").inner_text()
        page.screenshot(path=str(tmp_path / "signed-out.png"))
        # No CSP violation, script error or missing resource on any page of the walk.
        assert problems == []
    finally:
        context.close()


def test_sensors_api_refuses_a_token_revoked_at_the_idp_within_seconds(stack: Stack) -> None:
    """The API learns revocations from the IdP's signed feed (polled every 2 s), with no
    call to the IdP per request.

    The token comes from a client with 120-second tokens: the IdP neither records nor
    lists revocations of tokens already past ``exp``, which a 2-second token would be by
    the next poll (while resource servers accept it for ``leeway`` seconds more)."""
    settings = stack.settings
    verifier, challenge = pkce_pair()
    with httpx.Client(base_url=settings.issuer, timeout=15) as idp:
        callback = browse(
            idp,
            {
                "response_type": "code",
                "client_id": PROBE_ID,
                "redirect_uri": settings.redirect_uri,
                "scope": "read_sensors",
                "state": "s" * 20,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
            username=PLANNER.username,
            password=PLANNER.password,
        )
        assert isinstance(callback, Callback), callback
        token = exchange(
            idp,
            callback.code,
            verifier=verifier,
            redirect_uri=settings.redirect_uri,
            auth=(PROBE_ID, PROBE_SECRET),
        ).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{settings.api_url}/readings", headers=bearer).status_code == 200
        revoked = idp.post("/revoke", data={"token": token}, auth=(PROBE_ID, PROBE_SECRET))
        assert revoked.status_code == 200
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        refused = httpx.get(f"{settings.api_url}/readings", headers=bearer)
        if refused.status_code == 401:
            break
        time.sleep(0.2)
    assert refused.status_code == 401, "the revoked token was still accepted after 8 s"
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert refused.json()["error_description"] == "The access token was revoked."
