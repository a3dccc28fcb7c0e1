"""Grid-Monitor's "Open breaker" asks for a passkey (issue 26, RFC 9470 step-up).

The sensors API guards ``POST /breakers/{id}/open`` with
``tollhouse.resource.require_acr("phr", max_age=300)``: a password sign-in's token gets
``401 insufficient_user_authentication``, Grid-Monitor sends the user to ``/authorize``
with ``acr_values=phr`` and ``max_age=300``, the user signs in with a passkey (Chromium's
virtual authenticator) and the action succeeds. The issuer is ``http://localhost:PORT``
(``DEMO_IDP_HOST=localhost``): WebAuthn needs a host name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from demo.run import Stack, running
from demo.settings import DemoSettings

from tests.browser.test_passkeys import with_authenticator
from tests.demo.conftest import distinct_ports
from tests.demo.test_demo import operator, sign_in
from tests.e2e.flows import pkce_pair


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    idp, client, api, field, hub = distinct_ports(5)
    data_dir = tmp_path_factory.mktemp("step-up")
    settings = DemoSettings(idp, client, api, data_dir, field, hub, idp_host="localhost")
    env = {"TOLLHOUSE_TEST_FAST_HASH": "1", "TOLLHOUSE_LOG_LEVEL": "warning"}
    with running(settings, env) as started:
        yield started


def csrf_of(page: str) -> str:
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_a_password_token_is_asked_to_step_up_to_a_passkey(stack: Stack) -> None:
    client = stack.settings.client_url
    with httpx.Client(timeout=15) as http:
        sign_in(stack, http, operator(stack), expect_consent=True)
        readings = http.get(f"{client}/readings")
        assert 'action="/breakers/f3/open"' in readings.text
        opened = http.post(
            f"{client}/breakers/f3/open", data={"csrf_token": csrf_of(readings.text)}
        )
        assert opened.status_code == 303
        location = urlsplit(opened.headers["location"])
        assert f"{location.scheme}://{location.netloc}/authorize" == (
            f"{stack.settings.issuer}/authorize"
        )
        query = {k: v[0] for k, v in parse_qs(location.query).items()}
        assert query["acr_values"] == "phr" and query["max_age"] == "300"
        # The IdP session (password only) does not meet phr: the login page again.
        login = http.get(opened.headers["location"], follow_redirects=True)
        assert "/login?interaction=" in str(login.url)
        assert "needs you to sign in with a passkey" in login.text
        assert 'action="/login/passkey"' in login.text
        assert "script-src" not in login.headers["content-security-policy"]


def test_the_sensors_api_answers_insufficient_user_authentication(stack: Stack) -> None:
    with httpx.Client(timeout=15) as http:
        sign_in(stack, http, operator(stack), expect_consent=False)
        token = stack_token(stack, http)
        refused = http.post(
            f"{stack.settings.api_url}/breakers/f3/open",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert 'error="insufficient_user_authentication"' in challenge
    assert 'acr_values="phr"' in challenge and 'max_age="300"' in challenge
    assert refused.json()["error"] == "insufficient_user_authentication"


def stack_token(stack: Stack, http: httpx.Client) -> str:
    """The access token Grid-Monitor holds, asked of the IdP as Grid-Monitor would:
    here by a direct code flow with the demo client's credentials."""
    verifier, challenge = pkce_pair()
    creds = stack.credentials
    params = {
        "response_type": "code", "client_id": creds.client_id, "scope": "openid read_sensors",
        "redirect_uri": stack.settings.redirect_uri, "code_challenge": challenge,
        "code_challenge_method": "S256", "state": "s",
    }  # fmt: skip
    answer = http.get(f"{stack.settings.issuer}/authorize", params=params)
    assert answer.status_code in (302, 303), answer.text
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    tokens = http.post(
        f"{stack.settings.issuer}/token",
        data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
              "redirect_uri": stack.settings.redirect_uri},
        auth=(creds.client_id, creds.client_secret),
    )  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    return str(tokens.json()["access_token"])


def test_open_a_breaker_with_a_passkey_in_chromium(stack: Stack, browser: Any) -> None:
    client, issuer = stack.settings.client_url, stack.settings.issuer
    person = operator(stack)
    context = browser.new_context(viewport={"width": 1000, "height": 820})
    page = context.new_page()
    page.set_default_timeout(15_000)
    with_authenticator(context, page)
    try:
        page.goto(f"{client}/")
        page.get_by_role("link", name="Sign in with Tollhouse").click()
        page.wait_for_url(f"{issuer}/login?*")
        page.get_by_label("Username").fill(person.username)
        page.get_by_label("Password").fill(person.password)
        page.get_by_role("button", name="Sign in", exact=True).click()
        allow_if_asked(page, issuer, f"{client}/readings")
        page.goto(f"{issuer}/account/security")
        page.get_by_role("button", name="Add a passkey").click()
        page.get_by_text("Your passkey is added.").wait_for()

        page.goto(f"{client}/readings")
        page.get_by_role("button", name="Open Feeder F3 breaker").click()
        page.wait_for_url(f"{issuer}/login?*")
        page.get_by_role("button", name="Sign in with a passkey").click()
        page.wait_for_url(f"{issuer}/passkey?*")
        page.get_by_role("button", name="Sign in with a passkey").click()
        allow_if_asked(page, issuer, f"{client}/breakers/f3")
        page.get_by_role("button", name="Open Feeder F3 breaker").click()
        result = page.locator("#breaker-result")
        assert "now open" in result.inner_text() and "acr phr" in result.inner_text()
    finally:
        context.close()


def allow_if_asked(page: Any, issuer: str, then: str) -> None:
    """The consent page comes once per user and client; whichever test runs first."""
    page.wait_for_url(lambda url: url.startswith((f"{issuer}/consent", then)))
    if page.url.startswith(f"{issuer}/consent"):
        page.locator("button[name=decision][value=allow]").click()
    page.wait_for_url(then)
