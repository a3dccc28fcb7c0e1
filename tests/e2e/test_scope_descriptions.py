"""Scope descriptions given with ``tollhouse apis create --scope-description`` reach the
consent page, and each scope is named there once (the description, then the scope's
technical name; the name alone when the API gave no description)."""

from __future__ import annotations

import html
import json
import os
import re

import httpx

from tests.e2e.conftest import CALLBACK, Server
from tests.e2e.flows import pkce_pair
from tests.e2e.forms import parse
from tests.e2e.test_registry_changes import cli


def consent_page(server: Server, client_id: str, scope: str) -> str:
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "scope": scope,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with server.client() as http:
        started = http.get("/authorize", params=params)
        login = http.get(started.headers["location"])
        form = parse(login.text).forms[0]
        data = {**form.inputs, "username": server.seed.username, "password": server.seed.password}
        after_login = http.post("/login", data=data)
        assert after_login.status_code == 303, after_login.text
        consent: httpx.Response = http.get(after_login.headers["location"])
    assert consent.status_code == 200, consent.text
    return consent.text


def scope_items(page: str) -> list[str]:
    """The text of each item of the consent page's scope list."""
    listed = page.split('<ul class="scopes"', 1)[1].split("</ul>", 1)[0]
    items = re.findall(r"<li>(.*?)</li>", listed, flags=re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", item)).split()) for item in items]


def test_the_consent_page_names_each_scope_once_with_its_description(server: Server) -> None:
    tag = os.urandom(3).hex()
    described, plain = f"read_meters_{tag}", f"reset_meters_{tag}"
    cli(
        server,
        "apis",
        "create",
        "--identifier",
        f"https://meters-{tag}.example.test",
        "--name",
        "Grid meters",
        "--scope",
        described,
        "--scope",
        plain,
        "--scope-description",
        described,
        "Read meter readings",
    )
    created = cli(
        server,
        "clients",
        "create",
        "--name",
        "Meter dashboard",
        "--redirect-uri",
        CALLBACK,
        "--json",
    )
    client_id = json.loads(created)["client_id"]

    page = consent_page(server, client_id, f"openid {described} {plain}")

    assert scope_items(page) == [
        "Know who you are (your account identifier) openid",
        f"Read meter readings {described}",
        plain,
    ]
    assert page.count(described) == 1 and page.count(plain) == 1
    assert "Use Grid meters" not in page
