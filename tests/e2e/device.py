"""The device flow (RFC 8628) over HTTP: the device's requests and the person's pages."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urljoin

import httpx

from tests.e2e.conftest import CALLBACK, HASHER
from tests.e2e.forms import parse
from tollhouse.models import AuthMethod, Client, GrantType
from tollhouse.storage.sql.storage import open_storage

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
HUB = "sensor-hub"
"""A public device client allowed refresh tokens."""
TERMINAL = "jump-terminal"
"""A confidential device client (secret: TERMINAL_SECRET), no refresh tokens."""
TERMINAL_SECRET = "terminal-" + "s" * 40
HUB_ORIGIN = "http://127.0.0.1:7100"


async def _add_device_clients(url: str) -> None:
    storage = await open_storage(url)
    now = int(time.time())
    try:
        await storage.add_client(
            Client(
                client_id=HUB,
                name="Sensor Hub",
                redirect_uris=(),
                grant_types=(GrantType.DEVICE_CODE, GrantType.REFRESH_TOKEN),
                token_endpoint_auth_method=AuthMethod.NONE,
                created_at=now,
                allowed_cors_origins=(HUB_ORIGIN,),
            )
        )
        await storage.add_client(
            Client(
                client_id=TERMINAL,
                name="Jump Terminal",
                redirect_uris=(CALLBACK,),
                grant_types=(GrantType.DEVICE_CODE, GrantType.AUTHORIZATION_CODE),
                token_endpoint_auth_method=AuthMethod.CLIENT_SECRET_BASIC,
                created_at=now,
                secret_hash=HASHER.hash(TERMINAL_SECRET),
            )
        )
    finally:
        await storage.close()


def add_device_clients(database_url: str) -> None:
    asyncio.run(_add_device_clients(database_url))


async def _expire(url: str) -> None:
    storage = await open_storage(url)
    try:
        from sqlalchemy import update

        from tollhouse.storage.sql.schema import device_authorizations as table

        async with storage.engine.begin() as connection:
            await connection.execute(update(table).values(expires_at=int(time.time()) - 1))
    finally:
        await storage.close()


def expire_all(database_url: str) -> None:
    """Let every stored device request run out, as if its lifetime had passed."""
    asyncio.run(_expire(database_url))


def start(
    http: httpx.Client,
    client_id: str = HUB,
    *,
    scope: str | None = "openid read_sensors",
    auth: tuple[str, str] | None = None,
    extra: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    data = {} if auth else {"client_id": client_id}
    if scope is not None:
        data["scope"] = scope
    data.update(extra or {})
    return http.post("/device_authorization", data=data, auth=auth, headers=headers)


def poll(
    http: httpx.Client,
    device_code: str,
    client_id: str = HUB,
    auth: tuple[str, str] | None = None,
) -> httpx.Response:
    data = {"grant_type": DEVICE_GRANT, "device_code": device_code}
    if auth is None:
        data["client_id"] = client_id
    return http.post("/token", data=data, auth=auth)


def enter_code(browser: httpx.Client, user_code: str) -> httpx.Response:
    """Type ``user_code`` at /device (the form's own CSRF token) and submit it."""
    page = parse(browser.get("/device").text)
    data = dict(page.forms[0].inputs)
    data["user_code"] = user_code
    return browser.post("/device", data=data)


def answer(
    browser: httpx.Client,
    response: httpx.Response,
    *,
    username: str,
    password: str,
    decision: str = "allow",
    max_steps: int = 8,
) -> httpx.Response:
    """Follow /device's answer through login and consent to the result page."""
    for _ in range(max_steps):
        if response.is_redirect:
            response = browser.get(urljoin(str(response.url), response.headers["location"]))
            continue
        if "result=" in str(response.url) or response.status_code != 200:
            return response
        form = parse(response.text).forms[0]
        data = dict(form.inputs)
        if "password" in data:
            data.update(username=username, password=password)
        else:
            data["decision"] = decision
        response = browser.post(urljoin(str(response.url), form.action or ""), data=data)
    raise AssertionError("the device flow did not finish")
