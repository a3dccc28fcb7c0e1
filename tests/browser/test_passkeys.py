"""Passkeys in a real browser (issue 26) with Chromium's virtual authenticator (the
DevTools protocol ``WebAuthn`` domain through Playwright's CDP session): a user adds a
passkey on /account/security, then signs in with password + passkey. WebAuthn needs a
host name for the relying party, so this server's issuer is ``http://localhost:PORT``.
Screenshots of both pages, desktop and phone."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest

from tests.browser.conftest import SECRET, Callbacks, Idp, _recorder, _seed
from tests.browser.test_flows import at_callback, sign_in
from tests.e2e.conftest import TOLLHOUSE, free_port, start_server, stop
from tests.e2e.flows import pkce_pair

TIMEOUT_MS = 15_000
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def localhost_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Idp, Path]]:
    callbacks = Callbacks("")
    recorder = ThreadingHTTPServer(("127.0.0.1", 0), _recorder(callbacks))
    callbacks.base = f"http://127.0.0.1:{recorder.server_address[1]}"
    thread = threading.Thread(target=recorder.serve_forever, daemon=True)
    thread.start()
    data_dir = tmp_path_factory.mktemp("passkey-idp")
    asyncio.run(_seed(f"sqlite:///{data_dir / 'tollhouse.db'}", callbacks.base))
    port = free_port()
    issuer = f"http://localhost:{port}"
    process, log_path = start_server(data_dir, port, "--issuer", issuer)
    try:
        yield Idp(issuer, callbacks), log_path
    finally:
        stop(process)
        recorder.shutdown()
        recorder.server_close()


def with_authenticator(context: Any, page: Any) -> None:
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


def shoot(page: Any, output_dir: Path, name: str) -> None:
    page.screenshot(path=output_dir / f"{name}.png", full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=output_dir / f"{name}-phone.png", full_page=True)
    page.set_viewport_size({"width": 1024, "height": 760})


def test_add_a_passkey_then_sign_in_with_it(
    localhost_idp: tuple[Idp, Path], browser: Any, output_dir: Path
) -> None:
    idp, log_path = localhost_idp
    context = browser.new_context(viewport={"width": 1024, "height": 760}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        with_authenticator(context, page)
        csp_errors: list[str] = []
        page.on("console", lambda m: csp_errors.append(m.text) if "Content" in m.text else None)

        page.goto(idp.authorize_url("app-a"))
        sign_in(page, "erin")
        page.get_by_role("button", name="Allow").click()
        at_callback(page, idp, "/app-a/cb")

        page.goto(f"{idp.base}/account/security")
        add = page.get_by_role("button", name="Add a passkey")
        shoot(page, output_dir, "passkey-account")
        add.click()
        page.get_by_text("Your passkey is added.").wait_for()
        assert page.get_by_text("Passkeys: 1").is_visible()

        verifier, challenge = pkce_pair()
        params = {
            "response_type": "code", "client_id": "app-b", "prompt": "login",
            "redirect_uri": f"{idp.callbacks.base}/app-b/cb", "scope": "openid",
            "state": "s", "nonce": "n", "code_challenge": challenge,
            "code_challenge_method": "S256",
        }  # fmt: skip
        page.goto(f"{idp.base}/authorize?{urlencode(params)}")
        sign_in(page, "erin")
        page.wait_for_url("**/otp?interaction=**")
        # erin has a passkey and no authenticator app: the page says so.
        page.get_by_role("heading", name="Confirm with your passkey").wait_for()
        assert page.get_by_text("Open your authenticator app").count() == 0
        shoot(page, output_dir, "passkey-otp")
        page.get_by_role("button", name="Use a passkey").click()
        page.get_by_role("button", name="Allow").click()
        code = at_callback(page, idp, "/app-b/cb")["code"]
        assert csp_errors == []
    finally:
        context.close()

    with httpx.Client(base_url=idp.base, timeout=10) as http:
        tokens = http.post(
            "/token",
            data={
                "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                "redirect_uri": f"{idp.callbacks.base}/app-b/cb",
            },
            auth=("app-b", SECRET),
        )  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    claims = jwt.decode(tokens.json()["id_token"], options={"verify_signature": False})
    assert claims["amr"] == ["pwd", "hwk", "mfa"]
    assert claims["acr"] == "phr"
    events = [json.loads(line) for line in log_path.read_text().splitlines() if '"mfa"' in line]
    assert {"passkey_registered", "passkey_used"} <= {e.get("action") for e in events}


def redeem(idp: Idp, client_id: str, code: str, verifier: str) -> dict[str, Any]:
    with httpx.Client(base_url=idp.base, timeout=10) as http:
        tokens = http.post(
            "/token",
            data={
                "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                "redirect_uri": f"{idp.callbacks.base}/{client_id}/cb",
            },
            auth=(client_id, SECRET),
        )  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    options = {"verify_signature": False}
    return {
        "id": jwt.decode(body["id_token"], options=options),
        "access": jwt.decode(body["access_token"], options=options),
    }


def phr_url(idp: Idp, client_id: str, **extra: str) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code", "client_id": client_id, "acr_values": "phr",
        "redirect_uri": f"{idp.callbacks.base}/{client_id}/cb", "scope": "openid",
        "state": "s", "nonce": "n", "code_challenge": challenge,
        "code_challenge_method": "S256", **extra,
    }  # fmt: skip
    return f"{idp.base}/authorize?{urlencode(params)}", verifier


def test_sign_in_with_a_passkey_and_no_password(
    localhost_idp: tuple[Idp, Path], browser: Any, output_dir: Path
) -> None:
    """A password session does not meet acr_values=phr: the user is asked again, signs
    in with the passkey alone (no password), and the tokens say phr."""
    idp, _ = localhost_idp
    context = browser.new_context(viewport={"width": 1024, "height": 760}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        with_authenticator(context, page)
        csp_errors: list[str] = []
        page.on("console", lambda m: csp_errors.append(m.text) if "Content" in m.text else None)
        page.goto(idp.authorize_url("app-a"))
        sign_in(page, "gus")
        page.get_by_role("button", name="Allow").click()
        at_callback(page, idp, "/app-a/cb")
        page.goto(f"{idp.base}/account/security")
        page.get_by_role("button", name="Add a passkey").click()
        page.get_by_text("Your passkey is added.").wait_for()

        url, verifier = phr_url(idp, "app-b")
        login = page.goto(url)
        assert login is not None
        assert "script-src" not in login.headers["content-security-policy"]
        page.get_by_text("This application needs you to sign in with a passkey.").wait_for()
        shoot(page, output_dir, "passkey-login")
        page.get_by_role("button", name="Sign in with a passkey").click()
        page.wait_for_url("**/passkey?interaction=**")
        shoot(page, output_dir, "passkey-sign-in")
        page.get_by_role("button", name="Sign in with a passkey").click()
        page.get_by_role("button", name="Allow").click()
        code = at_callback(page, idp, "/app-b/cb")["code"]
        assert csp_errors == []
    finally:
        context.close()
    claims = redeem(idp, "app-b", code, verifier)
    for token in claims.values():
        assert token["amr"] == ["hwk", "user", "mfa"]
        assert token["acr"] == "phr"


def test_a_password_and_totp_session_does_not_meet_phr(
    localhost_idp: tuple[Idp, Path], browser: Any
) -> None:
    """hana has an authenticator app and no passkey: her TOTP session is asked to sign
    in again for phr (login_required with prompt=none), and a new password + code
    sign-in ends in unmet_authentication_requirements, never a code."""
    idp, log_path = localhost_idp
    data_dir = log_path.parent
    with httpx.Client(base_url=idp.base, timeout=10) as http:
        metadata = http.get("/.well-known/openid-configuration").json()
    assert metadata["acr_values_supported"] == ["urn:tollhouse:mfa", "phr"]
    totp = enroll_totp(data_dir, "hana")
    context = browser.new_context(viewport={"width": 1024, "height": 760}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(idp.authorize_url("app-a", acr_values="urn:tollhouse:mfa"))
        sign_in(page, "hana")
        page.wait_for_url("**/otp?interaction=**")
        page.get_by_role("textbox", name="Verification code").fill(totp.now())
        page.get_by_role("button", name="Verify").click()
        page.get_by_role("button", name="Allow").click()
        at_callback(page, idp, "/app-a/cb")

        url, _ = phr_url(idp, "app-a", prompt="none")
        page.goto(url)
        assert at_callback(page, idp, "/app-a/cb")["error"] == "login_required"

        url, _ = phr_url(idp, "app-a")
        page.goto(url)
        page.get_by_text("This application needs you to sign in with a passkey.").wait_for()
        sign_in(page, "hana")
        refused = at_callback(page, idp, "/app-a/cb")
        assert refused["error"] == "unmet_authentication_requirements"
        assert "code" not in refused
    finally:
        context.close()


def enroll_totp(data_dir: Path, username: str) -> Any:
    import pyotp

    done = subprocess.run(
        [str(TOLLHOUSE), "users", "totp", "enroll", username, "--json", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return pyotp.TOTP(json.loads(done.stdout)["secret"])


def test_bad_passkey_answers_are_refused_and_change_nothing(
    localhost_idp: tuple[Idp, Path],
) -> None:
    """Over plain HTTP: a made-up assertion is a 400 page (never a 500) and the
    interaction still works; the login form cannot take a passkey interaction, nor
    /passkey a login one; a wrong CSRF token is refused."""
    idp, _ = localhost_idp
    url, _ = phr_url(idp, "app-a")
    with httpx.Client(timeout=10) as http:
        login = http.get(url, follow_redirects=True)
        interaction = parse_qs(urlsplit(str(login.url)).query)["interaction"][0]
        csrf = http.cookies["tollhouse_csrf"]
        form = {"interaction": interaction, "csrf_token": csrf}
        assert http.post(f"{idp.base}/passkey", data=form).status_code == 400
        wrong = http.post(f"{idp.base}/login/passkey", data={**form, "csrf_token": "x" * 43})
        assert wrong.status_code == 400
        started = http.post(f"{idp.base}/login/passkey", data=form)
        assert started.status_code == 303
        passkey_page = http.get(f"{idp.base}{started.headers['location']}")
        assert "script-src 'self'" in passkey_page.headers["content-security-policy"]
        second = parse_qs(urlsplit(started.headers["location"]).query)["interaction"][0]
        step = {"interaction": second, "csrf_token": csrf}
        for bad in ("", "{}", '{"id": "x", "response": {"userHandle": "!!"}}', "[1]"):
            refused = http.post(f"{idp.base}/passkey", data={**step, "passkey": bad})
            assert refused.status_code == 400, refused.text
            assert "did not sign you in" in refused.text, bad
        huge = http.post(f"{idp.base}/passkey", data={**step, "passkey": "x" * 70_000})
        assert huge.status_code in (400, 413)
        login_form = {**step, "username": "dana", "password": "wrong"}
        assert http.post(f"{idp.base}/login", data=login_form).status_code == 400
        back = http.post(f"{idp.base}/passkey", data={**step, "back": "1"})
        assert back.status_code == 303 and back.headers["location"].startswith("/login?")
        assert http.post(f"{idp.base}/passkey", data=step).status_code == 400
