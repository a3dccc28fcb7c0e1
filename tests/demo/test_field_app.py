"""The field technician's single-page app (demo/field_app.py, demo/field/field.js) in
headless Chromium, against the demo stack as ``make demo`` starts it: discovery, PKCE,
sign-in and consent at the IdP, the code exchange at ``/token`` and a ``/userinfo`` call
with ``fetch`` from the app's own origin — possible only because the IdP answers that
origin (CORS), and only that one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from demo.run import Stack, running
from demo.settings import FIELD_CLIENT_ID, DemoSettings

from tests.demo.conftest import distinct_ports


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    idp, client, api, field, hub = distinct_ports(5)
    settings = DemoSettings(idp, client, api, tmp_path_factory.mktemp("field"), field, hub)
    env = {"TOLLHOUSE_TEST_FAST_HASH": "1", "TOLLHOUSE_LOG_LEVEL": "warning"}
    with running(settings, env) as started:
        yield started


def test_field_app_signs_in_and_reads_userinfo_with_fetch(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    settings, person = stack.settings, stack.credentials
    context = browser.new_context(viewport={"width": 1000, "height": 820})
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    cross_origin: list[str] = []
    page.on(
        "requestfinished",
        lambda r: (
            cross_origin.append(f"{r.method} {r.url.split('?')[0]}")
            if r.resource_type == "fetch" and r.url.startswith(settings.issuer)
            else None
        ),
    )
    try:
        page.goto(f"{settings.field_url}/")
        page.get_by_role("button", name="Sign in with Tollhouse").click()
        page.wait_for_url(f"{settings.issuer}/login?*")
        page.get_by_label("Username").fill(person.username)
        page.get_by_label("Password").fill(person.password)
        page.locator("button[type=submit]").click()
        page.wait_for_url(f"{settings.issuer}/consent?*")
        assert "Field technician" in page.locator("main").inner_text()
        page.locator("button[name=decision][value=allow]").click()
        page.wait_for_url(f"{settings.field_url}/")  # the code is taken off the URL
        page.locator("#profile").wait_for(state="visible")
        shown = json.loads(page.locator("#userinfo").inner_text())
        assert shown["preferred_username"] == person.username and shown["sub"]
        assert page.locator("#user-name").inner_text()
        assert page.locator("#error").is_hidden()
        page.screenshot(path=str(tmp_path / "field-app.png"), full_page=True)
        assert set(cross_origin) >= {
            f"GET {settings.issuer}/.well-known/openid-configuration",
            f"POST {settings.issuer}/token",
            f"GET {settings.issuer}/userinfo",
        }
        assert problems == []
    finally:
        context.close()


def test_field_app_is_a_public_client_whose_origin_alone_is_answered(stack: Stack) -> None:
    settings = stack.settings
    form = {"grant_type": "authorization_code", "code": "x", "client_id": FIELD_CLIENT_ID}
    own = httpx.post(f"{settings.issuer}/token", data=form, headers={"Origin": settings.field_url})
    assert own.headers["access-control-allow-origin"] == settings.field_url
    grid = httpx.post(
        f"{settings.issuer}/token", data=form, headers={"Origin": settings.client_url}
    )
    assert "access-control-allow-origin" not in grid.headers
