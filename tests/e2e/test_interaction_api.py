"""The interaction API end to end: an operator's own login and consent app (a tiny
Starlette app under uvicorn on 127.0.0.1) replaces the built-in pages, and drives the
flow through ``/admin/interactions/…`` with an admin token."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import jwt
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.e2e.conftest import (
    CALLBACK,
    TOLLHOUSE,
    Seed,
    free_port,
    seed_database,
    start_server,
    stop,
)
from tests.e2e.flows import exchange, pkce_pair
from tests.e2e.forms import parse

ONE_TIME_CODE = "246810"
"""The login app's own way to authenticate (not a Tollhouse password)."""
AMR = ["pwd", "otp"]
"""How the login app says it authenticated the user (RFC 8176)."""


async def form_of(request: Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}


def login_app(idp: str, admin_token: str) -> Starlette:
    """What an operator writes: their pages, calling the admin API server to server."""
    headers = {"Authorization": f"Bearer {admin_token}"}

    async def admin(
        method: str, path: str, body: dict[str, object] | None = None
    ) -> httpx.Response:
        async with httpx.AsyncClient(base_url=idp, timeout=10) as http:
            return await http.request(method, path, json=body, headers=headers)

    async def login_page(request: Request) -> Response:
        interaction = request.query_params["interaction"]
        pending = (await admin("GET", f"/admin/interactions/{interaction}")).json()
        return HTMLResponse(
            f"<p>Sign in to {pending['client']['name']} ({pending['stage']})</p>"
            f'<form method="post" action="/login"><input name="interaction" value="{interaction}">'
            '<input name="username"><input name="code"><input name="acr"></form>'
            f"<p>mfa_required: {pending['mfa_required']}</p>"
        )

    async def login_submit(request: Request) -> Response:
        form = await form_of(request)
        interaction = str(form["interaction"])
        if form.get("code") != ONE_TIME_CODE:
            answer = await admin(
                "PUT", f"/admin/interactions/{interaction}/reject", {"error": "access_denied"}
            )
        else:
            body: dict[str, object] = {
                "username": str(form["username"]), "remember": False, "amr": AMR
            }  # fmt: skip
            if form.get("acr"):
                body["acr"] = form["acr"]
            answer = await admin("PUT", f"/admin/interactions/{interaction}/accept-login", body)
        return RedirectResponse(answer.json()["redirect_to"], status_code=303)

    async def consent_page(request: Request) -> Response:
        interaction = request.query_params["interaction"]
        pending = (await admin("GET", f"/admin/interactions/{interaction}")).json()
        scopes = " ".join(s["scope"] for s in pending["scopes"])
        return HTMLResponse(
            f"<p>{pending['user']['username']}: allow {scopes}?</p>"
            '<form method="post" action="/consent">'
            f'<input name="interaction" value="{interaction}"><input name="grant"></form>'
        )

    async def consent_submit(request: Request) -> Response:
        form = await form_of(request)
        interaction = str(form["interaction"])
        answer = await admin(
            "PUT",
            f"/admin/interactions/{interaction}/accept-consent",
            {"grant_scopes": str(form["grant"]).split(), "remember": False},
        )
        return RedirectResponse(answer.json()["redirect_to"], status_code=303)

    return Starlette(
        routes=[
            Route("/login", login_page, methods=["GET"]),
            Route("/login", login_submit, methods=["POST"]),
            Route("/consent", consent_page, methods=["GET"]),
            Route("/consent", consent_submit, methods=["POST"]),
        ]
    )


@dataclass
class Setup:
    idp: str
    app: str
    token: str
    seed: Seed
    data_dir: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    data_dir = tmp_path_factory.mktemp("interaction-api")
    seed = Seed()
    asyncio.run(seed_database(f"sqlite:///{data_dir / 'tollhouse.db'}", seed))
    created = subprocess.run(
        [str(TOLLHOUSE), "admin-token", "create", "--name", "test app", "--json",
         "--data-dir", str(data_dir)],
        capture_output=True, check=True, text=True,
    )  # fmt: skip
    token = json.loads(created.stdout)["token"]
    idp_port, app_port = free_port(), free_port()
    idp, app_url = f"http://127.0.0.1:{idp_port}", f"http://127.0.0.1:{app_port}"
    config = uvicorn.Config(
        login_app(idp, token), host="127.0.0.1", port=app_port, log_level="warning",
        lifespan="off", ws="none",
    )  # fmt: skip
    app_server = uvicorn.Server(config)
    thread = threading.Thread(target=app_server.run, daemon=True)
    thread.start()
    process, _ = start_server(
        data_dir,
        idp_port,
        env={
            "TOLLHOUSE_LOGIN_URL": f"{app_url}/login",
            "TOLLHOUSE_CONSENT_URL": f"{app_url}/consent",
        },
    )
    deadline = time.monotonic() + 10
    while not app_server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield Setup(idp, app_url, token, seed, data_dir)
    finally:
        stop(process)
        app_server.should_exit = True
        thread.join(10)


def authorize_params(
    setup: Setup, scope: str = "openid read_sensors write_sensors"
) -> tuple[dict[str, str], str]:
    verifier, challenge = pkce_pair()
    return {
        "response_type": "code", "client_id": setup.seed.other_id, "redirect_uri": CALLBACK,
        "scope": scope, "state": "s-1", "nonce": "n-1",
        "code_challenge": challenge, "code_challenge_method": "S256",
    }, verifier  # fmt: skip


def walk(
    http: httpx.Client, url: str, fill: dict[str, dict[str, str]], max_steps: int = 12
) -> tuple[str, list[str]]:
    """A browser: follow redirects across both hosts and submit the app's forms with
    ``fill[path]``; stops at the client's callback. Returns it and the URLs visited."""
    visited: list[str] = []
    response = http.get(url)
    for _ in range(max_steps):
        visited.append(str(response.url))
        if response.is_redirect:
            location = urljoin(str(response.url), response.headers["location"])
            if location.startswith(CALLBACK):
                return location, visited
            response = http.get(location)
            continue
        path = urlsplit(str(response.url)).path
        if response.status_code != 200 or path not in fill:
            raise AssertionError(
                f"stopped at {response.url}: {response.status_code} {response.text[:300]}"
            )
        form = parse(response.text).forms[0]
        response = http.post(
            urljoin(str(response.url), form.action or ""), data={**form.inputs, **fill[path]}
        )
    raise AssertionError("the flow did not finish")


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_external_login_and_consent_pages_complete_the_code_flow(setup: Setup) -> None:
    params, verifier = authorize_params(setup)
    with httpx.Client(timeout=10) as browser:
        start = str(httpx.URL(f"{setup.idp}/authorize", params=params))
        callback, visited = walk(
            browser,
            start,
            {
                "/login": {"username": setup.seed.username, "code": ONE_TIME_CODE},
                "/consent": {"grant": "openid read_sensors"},
            },
        )
        assert any(url.startswith(f"{setup.app}/login?interaction=") for url in visited), visited
        assert any(url.startswith(f"{setup.app}/consent?interaction=") for url in visited)
        assert any("/interaction/callback?verifier=" in url for url in visited)
        result = query(callback)
        assert result["state"] == "s-1" and result["iss"] == setup.idp
        # remember=false: the session cookie lives only as long as the browser.
        session = next(c for c in browser.cookies.jar if c.name == "tollhouse_session")
        assert session.expires is None
    with httpx.Client(base_url=setup.idp, timeout=10) as http:
        tokens = exchange(
            http, result["code"], verifier=verifier, redirect_uri=CALLBACK,
            auth=(setup.seed.other_id, setup.seed.confidential_secret),
        )  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    # The app granted a subset: write_sensors was left out.
    assert set(tokens.json()["scope"].split()) == {"openid", "read_sensors"}
    assert "id_token" in tokens.json()


def id_token_claims(setup: Setup, id_token: str) -> dict[str, object]:
    jwks = httpx.get(f"{setup.idp}/jwks.json").json()
    header = jwt.get_unverified_header(id_token)
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    return jwt.decode(
        id_token, key=jwt.PyJWK(key), algorithms=[header["alg"]],
        audience=setup.seed.other_id, issuer=setup.idp,
    )  # fmt: skip


def test_amr_from_accept_login_reaches_the_id_tokens_of_exchange_and_refresh(
    setup: Setup,
) -> None:
    params, verifier = authorize_params(setup, "openid read_sensors")
    with httpx.Client(timeout=10) as browser:
        start = str(httpx.URL(f"{setup.idp}/authorize", params=params))
        callback, _ = walk(
            browser,
            start,
            {
                "/login": {"username": setup.seed.username, "code": ONE_TIME_CODE},
                "/consent": {"grant": "openid read_sensors"},
            },
        )
    auth = (setup.seed.other_id, setup.seed.confidential_secret)
    with httpx.Client(base_url=setup.idp, timeout=10) as http:
        tokens = exchange(
            http, query(callback)["code"], verifier=verifier, redirect_uri=CALLBACK, auth=auth
        )
        assert tokens.status_code == 200, tokens.text
        first = id_token_claims(setup, tokens.json()["id_token"])
        time.sleep(1.1)  # a later iat, the same authentication
        refreshed = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]},
            auth=auth,
        )
    assert first["amr"] == AMR
    assert refreshed.status_code == 200, refreshed.text
    again = id_token_claims(setup, refreshed.json()["id_token"])
    # OIDC Core §12.2: a refreshed ID Token keeps the original authentication's facts.
    assert again["amr"] == AMR and again["auth_time"] == first["auth_time"]
    assert again["sub"] == first["sub"] and again["iat"] > first["iat"]  # type: ignore[operator]


def test_acr_from_accept_login_reaches_the_tokens_and_must_meet_the_request(
    setup: Setup,
) -> None:
    """docs/mfa.md: the login app reports its second factor as acr; a request that
    needs one is refused (unmet_authentication_requirements) when the app reports less."""
    mfa = "urn:tollhouse:mfa"
    params, verifier = authorize_params(setup, "openid read_sensors")
    params["acr_values"] = mfa
    with httpx.Client(timeout=10) as browser:
        start = str(httpx.URL(f"{setup.idp}/authorize", params=params))
        fill = {"username": setup.seed.username, "code": ONE_TIME_CODE}
        consent = {"grant": "openid read_sensors"}
        refused, _ = walk(browser, start, {"/login": fill, "/consent": consent})
        assert query(refused)["error"] == "unmet_authentication_requirements"
    with httpx.Client(timeout=10) as browser:
        start = str(httpx.URL(f"{setup.idp}/authorize", params=params))
        callback, _ = walk(browser, start, {"/login": {**fill, "acr": mfa}, "/consent": consent})
    auth = (setup.seed.other_id, setup.seed.confidential_secret)
    with httpx.Client(base_url=setup.idp, timeout=10) as http:
        tokens = exchange(
            http, query(callback)["code"], verifier=verifier, redirect_uri=CALLBACK, auth=auth
        )
    assert tokens.status_code == 200, tokens.text
    assert id_token_claims(setup, tokens.json()["id_token"])["acr"] == mfa


def test_a_request_for_phr_needs_the_login_app_to_report_a_passkey(setup: Setup) -> None:
    """acr_values=phr: a login app reporting only urn:tollhouse:mfa (a code) gets
    unmet_authentication_requirements; reporting phr reaches the tokens."""
    params, verifier = authorize_params(setup, "openid read_sensors")
    params["acr_values"] = "phr"
    fill = {"username": setup.seed.username, "code": ONE_TIME_CODE}
    consent = {"grant": "openid read_sensors"}
    with httpx.Client(timeout=10) as browser:
        start = str(httpx.URL(f"{setup.idp}/authorize", params=params))
        steps = {"/login": {**fill, "acr": "urn:tollhouse:mfa"}, "/consent": consent}
        refused, _ = walk(browser, start, steps)
        assert query(refused)["error"] == "unmet_authentication_requirements"
    with httpx.Client(timeout=10) as browser:
        start = str(httpx.URL(f"{setup.idp}/authorize", params=params))
        callback, _ = walk(browser, start, {"/login": {**fill, "acr": "phr"}, "/consent": consent})
    auth = (setup.seed.other_id, setup.seed.confidential_secret)
    with httpx.Client(base_url=setup.idp, timeout=10) as http:
        tokens = exchange(
            http, query(callback)["code"], verifier=verifier, redirect_uri=CALLBACK, auth=auth
        )
    assert tokens.status_code == 200, tokens.text
    assert id_token_claims(setup, tokens.json()["id_token"])["acr"] == "phr"


def test_admin_api_refuses_requests_without_a_valid_admin_token(setup: Setup) -> None:
    with httpx.Client(base_url=setup.idp, timeout=10) as http:
        bare = http.get("/admin/interactions/whatever")
        wrong = http.get(
            "/admin/interactions/whatever", headers={"Authorization": "Bearer tha_not-a-token"}
        )
        right = http.get(
            "/admin/interactions/whatever", headers={"Authorization": f"Bearer {setup.token}"}
        )
    assert bare.status_code == 401 and bare.headers["www-authenticate"].startswith("Bearer")
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert right.status_code == 404 and right.json()["error"] == "not_found"


def start_interaction(setup: Setup, browser: httpx.Client, scope: str = "openid") -> str:
    params, _ = authorize_params(setup, scope)
    response = browser.get(f"{setup.idp}/authorize", params=params)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"{setup.app}/login?interaction=")
    return query(location)["interaction"]


def admin(setup: Setup) -> httpx.Client:
    return httpx.Client(
        base_url=setup.idp, timeout=10, headers={"Authorization": f"Bearer {setup.token}"}
    )


def test_interaction_describes_the_pending_request(setup: Setup) -> None:
    with httpx.Client(timeout=10) as browser, admin(setup) as api:
        interaction = start_interaction(setup, browser, "openid profile")
        pending = api.get(f"/admin/interactions/{interaction}")
    assert pending.status_code == 200 and pending.headers["cache-control"] == "no-store"
    body = pending.json()
    assert body["stage"] == "login" and body["user"] is None
    assert body["client"] == {
        "client_id": setup.seed.other_id,
        "name": "Other App",
        "self_registered": False,
    }
    assert [s["scope"] for s in body["scopes"]] == ["openid", "profile"]
    assert body["scopes"][1]["description"] == "See your name and username"
    assert body["redirect_uri"] == CALLBACK
    assert body["device"] is None  # an /authorize request, not a device's


def test_an_interaction_is_answered_only_once(setup: Setup) -> None:
    with httpx.Client(timeout=10) as browser, admin(setup) as api:
        interaction = start_interaction(setup, browser)
        path = f"/admin/interactions/{interaction}/accept-login"
        first = api.put(path, json={"username": setup.seed.username})
        second = api.put(path, json={"username": setup.seed.username})
    assert (
        first.status_code == 200
        and "/interaction/callback?verifier=" in first.json()["redirect_to"]
    )
    assert second.status_code == 404


def test_accept_consent_is_refused_while_login_is_pending(setup: Setup) -> None:
    with httpx.Client(timeout=10) as browser, admin(setup) as api:
        interaction = start_interaction(setup, browser)
        wrong = api.put(f"/admin/interactions/{interaction}/accept-consent", json={})
        unknown_user = api.put(
            f"/admin/interactions/{interaction}/accept-login", json={"username": "nobody"}
        )
        not_json = api.put(f"/admin/interactions/{interaction}/accept-login", content=b"x")
    assert wrong.status_code == 409
    assert unknown_user.status_code == 400 and unknown_user.json()["error"] == "invalid_request"
    assert not_json.status_code == 400


def test_redirect_to_works_only_in_the_browser_that_started_the_request(setup: Setup) -> None:
    with httpx.Client(timeout=10) as browser, admin(setup) as api:
        interaction = start_interaction(setup, browser)
        answer = api.put(
            f"/admin/interactions/{interaction}/accept-login",
            json={"username": setup.seed.username},
        )
        with httpx.Client(timeout=10) as attacker:
            stolen = attacker.get(answer.json()["redirect_to"])
        assert stolen.status_code == 400 and "location" not in stolen.headers
        assert "tollhouse_session" not in stolen.headers.get("set-cookie", "")
        # Single use: the victim's own browser cannot replay it either.
        replay = browser.get(answer.json()["redirect_to"])
        assert replay.status_code == 400


def test_reject_sends_the_chosen_error_to_the_client(setup: Setup) -> None:
    with httpx.Client(timeout=10) as browser, admin(setup) as api:
        interaction = start_interaction(setup, browser)
        answer = api.put(
            f"/admin/interactions/{interaction}/reject",
            json={"error": "login_required", "error_description": "MFA device not enrolled"},
        )
        bad = api.put(f"/admin/interactions/{interaction}/reject", json={"error": "server_error"})
        back = browser.get(answer.json()["redirect_to"])
    assert bad.status_code in (400, 404)
    assert back.status_code == 303
    result = query(back.headers["location"])
    assert back.headers["location"].startswith(CALLBACK)
    assert result["error"] == "login_required" and result["state"] == "s-1"
    assert result["error_description"] == "MFA device not enrolled"


def test_built_in_pages_are_closed_when_an_external_app_replaces_them(setup: Setup) -> None:
    with httpx.Client(timeout=10) as browser:
        interaction = start_interaction(setup, browser)
        built_in = browser.get(f"{setup.idp}/login", params={"interaction": interaction})
        posted = browser.post(
            f"{setup.idp}/login",
            data={"interaction": interaction, "username": setup.seed.username,
                  "password": setup.seed.password},
        )  # fmt: skip
    assert built_in.status_code == 400 and "password" not in built_in.text
    assert posted.status_code == 400
    assert "tollhouse_session" not in posted.headers.get("set-cookie", "")


def test_revoked_admin_token_is_refused(setup: Setup) -> None:
    created = subprocess.run(
        [str(TOLLHOUSE), "admin-token", "create", "--json", "--data-dir", str(setup.data_dir)],
        capture_output=True, check=True, text=True,
    )  # fmt: skip
    made = json.loads(created.stdout)
    listed = subprocess.run(
        [str(TOLLHOUSE), "admin-token", "list", "--json", "--data-dir", str(setup.data_dir)],
        capture_output=True, check=True, text=True,
    )  # fmt: skip
    assert made["id"] in {t["id"] for t in json.loads(listed.stdout)}
    assert made["token"] not in listed.stdout
    headers = {"Authorization": f"Bearer {made['token']}"}
    assert httpx.get(f"{setup.idp}/admin/interactions/x", headers=headers).status_code == 404
    subprocess.run(
        [str(TOLLHOUSE), "admin-token", "revoke", made["id"], "--data-dir", str(setup.data_dir)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert httpx.get(f"{setup.idp}/admin/interactions/x", headers=headers).status_code == 401


@pytest.fixture(scope="module")
def devices(setup: Setup) -> None:
    """The setup with the device clients of tests/e2e/device.py added."""
    from tests.e2e.device import add_device_clients

    add_device_clients(f"sqlite:///{setup.data_dir / 'tollhouse.db'}")
    time.sleep(1.2)  # every server sees a new client within a second


@pytest.mark.usefixtures("devices")
def test_a_device_is_approved_through_the_login_app(setup: Setup) -> None:
    """RFC 8628: with the operator's pages configured, /device hands the person to them
    and their answers approve the device, with the amr they report in the ID Token."""
    from tests.e2e.device import poll, start

    fill = {
        "/login": {"username": setup.seed.username, "code": ONE_TIME_CODE},
        "/consent": {"grant": "openid read_sensors"},
    }
    with httpx.Client(base_url=setup.idp, timeout=10) as device:
        started = start(device).json()
        with httpx.Client(timeout=10) as browser:
            page = browser.get(started["verification_uri_complete"])
            form = parse(page.text).forms[0]
            response = browser.post(f"{setup.idp}/device", data=form.inputs)
            visited = []
            for _ in range(12):
                visited.append(str(response.url))
                if response.is_redirect:
                    response = browser.get(urljoin(str(response.url), response.headers["location"]))
                    continue
                path = urlsplit(str(response.url)).path
                if str(response.url).startswith(setup.idp) or path not in fill:
                    break
                form = parse(response.text).forms[0]
                target = urljoin(str(response.url), form.action or "")
                response = browser.post(target, data={**form.inputs, **fill[path]})
        assert str(response.url) == f"{setup.idp}/device?result=approved", visited
        assert any(url.startswith(f"{setup.app}/consent?interaction=") for url in visited)
        tokens = poll(device, started["device_code"]).json()
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["amr"] == AMR and tokens["scope"] == "openid read_sensors"


@pytest.mark.usefixtures("devices")
def test_a_device_interaction_names_where_the_device_asked_from(setup: Setup) -> None:
    """RFC 8628 §5.4: the operator's consent app can show the device's IP address and
    user agent, as the built-in consent page does."""
    from tests.e2e.device import start

    agent = "SensorHub/2.1 (substation 7)"
    with httpx.Client(base_url=setup.idp, timeout=10) as device:
        started = start(device, headers={"User-Agent": agent}).json()
    with httpx.Client(timeout=10) as browser, admin(setup) as api:
        form = parse(browser.get(started["verification_uri_complete"]).text).forms[0]
        response = browser.post(f"{setup.idp}/device", data=form.inputs)
        for _ in range(4):
            location = urljoin(str(response.url), response.headers["location"])
            if location.startswith(f"{setup.app}/login?interaction="):
                break
            response = browser.get(location)
        else:
            raise AssertionError("/device did not hand the person to the login app")
        pending = api.get(f"/admin/interactions/{query(location)['interaction']}").json()
    assert pending["device"] == {"ip": "127.0.0.1", "user_agent": agent}
    assert pending["client"]["client_id"] == "sensor-hub"
