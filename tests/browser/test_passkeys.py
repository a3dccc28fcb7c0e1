"""Passkeys in a real browser (issue 26) with Chromium's virtual authenticator (the
DevTools protocol ``WebAuthn`` domain through Playwright's CDP session): a user adds a
passkey on /account/security, then signs in with password + passkey. WebAuthn needs a
host name for the relying party, so this server's issuer is ``http://localhost:PORT``.
Screenshots of both pages, desktop and phone."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest

from tests.browser.conftest import SECRET, Callbacks, Idp, _recorder, _seed
from tests.browser.test_flows import at_callback, sign_in
from tests.e2e.conftest import free_port, start_server, stop
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
    assert claims["acr"] == "urn:tollhouse:mfa"
    events = [json.loads(line) for line in log_path.read_text().splitlines() if '"mfa"' in line]
    assert {"passkey_registered", "passkey_used"} <= {e.get("action") for e in events}
