"""Open registration (``TOLLHOUSE_REGISTRATION=open``) must not make the server an open
redirector or let a registrant pass as another client (issue 21.12), over real HTTP.

Anyone may register ``https://evil.example/...`` as redirect and post-logout URI. The
server then never sends a browser there on its own: ``/logout`` and ``/authorize``
error redirects show a notice naming the host (RFC 9700 §4.11.2: "SHOULD only
automatically redirect the user agent if it trusts the redirect URI"), and every
authorization asks for consent on a page saying the app was registered by a third
party. Names are unique, so a registrant cannot copy an existing client's.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from tests.e2e.conftest import (
    Seed,
    Server,
    free_port,
    seed_database,
    start_server,
    stop,
)
from tests.e2e.flows import Callback, browse, pkce_pair
from tests.e2e.forms import parse
from tests.e2e.test_pages import check_page_rules
from tests.e2e.test_registration import admin, post_register
from tollhouse.models import AuthMethod, Client, GrantType
from tollhouse.storage.sql.storage import open_storage

EVIL_CB = "https://evil.example/cb"
EVIL_BYE = "https://evil.example/landing"
OPERATOR_ID = "operator-app"
OPERATOR_CB = "http://127.0.0.1:9300/cb"
OPERATOR_BYE = "http://127.0.0.1:9300/bye"
LOOPBACK_CB = "http://127.0.0.1:9400/cb"


async def _seed(url: str, seed: Seed) -> None:
    await seed_database(url, seed)
    storage = await open_storage(url)
    try:
        await storage.add_client(
            Client(
                client_id=OPERATOR_ID,
                name="Operator App",
                redirect_uris=(OPERATOR_CB,),
                grant_types=(GrantType.AUTHORIZATION_CODE,),
                token_endpoint_auth_method=AuthMethod.NONE,
                created_at=int(time.time()),
                post_logout_redirect_uris=(OPERATOR_BYE,),
            )
        )
    finally:
        await storage.close()


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("open-registration")
    database_url = f"sqlite:///{data_dir / 'tollhouse.db'}"
    seed = Seed()
    asyncio.run(_seed(database_url, seed))
    port = free_port()
    process, log_path = start_server(
        data_dir,
        port,
        env={"TOLLHOUSE_REGISTRATION": "open", "TOLLHOUSE_CLIENT_CACHE_TTL": "0"},
    )
    try:
        yield Server(f"http://127.0.0.1:{port}", data_dir, database_url, seed, process, log_path)
    finally:
        stop(process)


def register(http: httpx.Client, name: str, **extra: Any) -> httpx.Response:
    body = {
        "client_name": name,
        "redirect_uris": [EVIL_CB, LOOPBACK_CB],
        "post_logout_redirect_uris": [EVIL_BYE],
        "token_endpoint_auth_method": "none",
        **extra,
    }
    return post_register(http, body, None)


def links(page: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'<a [^>]*href="([^"]+)"', page)]


def check_notice(response: httpx.Response, destination: str) -> None:
    """The leaving notice: a page (not a redirect) naming the host, registered by a third
    party, whose one link goes on; the page rules of every page (no script, CSP,
    viewport, no framing)."""
    assert response.status_code == 200, (response.status_code, response.headers)
    assert "location" not in response.headers
    assert "evil.example" in response.text and "third party" in response.text
    assert links(response.text) == [destination]
    assert response.headers["cache-control"] == "no-store"
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert "<script" not in response.text
    assert parse(response.text).meta["viewport"] == "width=device-width, initial-scale=1"
    assert parse(response.text).forms == []


def authorize_params(client_id: str, redirect_uri: str, **extra: str) -> dict[str, str]:
    _, challenge = pkce_pair()
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid",
        "state": "st",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def test_logout_shows_a_notice_before_leaving_for_a_self_registered_client(idp: Server) -> None:
    with idp.client() as http:
        created = register(http, "Totally Legit Portal")
        assert created.status_code == 201, created.text
        client_id = created.json()["client_id"]
        leaving = http.get(
            "/logout",
            params={"client_id": client_id, "post_logout_redirect_uri": EVIL_BYE, "state": "s"},
        )
        check_notice(leaving, f"{EVIL_BYE}?state=s")
        # An operator's client keeps the plain redirect.
        trusted = http.get(
            "/logout", params={"client_id": OPERATOR_ID, "post_logout_redirect_uri": OPERATOR_BYE}
        )
        assert trusted.status_code == 303 and trusted.headers["location"] == OPERATOR_BYE


def test_authorize_error_redirects_to_a_self_registered_client_show_a_notice(
    idp: Server,
) -> None:
    with idp.client() as http:
        client_id = register(http, "Error Bouncer").json()["client_id"]
        bad_type = http.get(
            "/authorize", params=authorize_params(client_id, EVIL_CB, response_type="token")
        )
        [destination] = links(bad_type.text)
        assert destination.startswith(EVIL_CB + "?error=unsupported_response_type")
        check_notice(bad_type, destination)
        # No session, prompt=none: login_required, the other error anyone can trigger.
        silent = http.get("/authorize", params=authorize_params(client_id, EVIL_CB, prompt="none"))
        [destination] = links(silent.text)
        assert destination.startswith(EVIL_CB + "?error=login_required")
        check_notice(silent, destination)

        trusted = http.get(
            "/authorize", params=authorize_params(OPERATOR_ID, OPERATOR_CB, prompt="none")
        )
        assert trusted.status_code == 302
        assert trusted.headers["location"].startswith(OPERATOR_CB + "?error=login_required")


def _consent_page(http: httpx.Client, params: dict[str, str]) -> httpx.Response | None:
    """Follow /authorize in a signed-in browser; the consent page, or None when the
    browser went straight back to the client."""
    response = http.get("/authorize", params=params)
    for _ in range(5):
        if not response.is_redirect:
            return response
        location = urljoin(str(response.url), response.headers["location"])
        if not location.startswith(str(http.base_url).rstrip("/")):
            return None
        response = http.get(location)
    raise AssertionError("too many redirects")


def test_self_registered_clients_ask_for_consent_every_time(idp: Server) -> None:
    seed = idp.seed
    with idp.client() as http:
        client_id = register(http, "Unverified Helper").json()["client_id"]
        params = authorize_params(client_id, LOOPBACK_CB)
        first = browse(http, params, username=seed.username, password=seed.password)
        assert isinstance(first, Callback), getattr(first, "text", first)

        again = _consent_page(http, authorize_params(client_id, LOOPBACK_CB))
        assert again is not None and again.status_code == 200
        check_page_rules(again.text, again.headers["content-security-policy"])
        assert "Unverified Helper" in again.text and "third party" in again.text
        assert "127.0.0.1:9400" in again.text
        silent = http.get(
            "/authorize", params=authorize_params(client_id, LOOPBACK_CB, prompt="none")
        )
        assert silent.status_code == 200 and "error=consent_required" in silent.text

        # The operator's client: consent once, then single sign-on straight through.
        operator = browse(http, authorize_params(OPERATOR_ID, OPERATOR_CB))
        assert isinstance(operator, Callback)
        assert _consent_page(http, authorize_params(OPERATOR_ID, OPERATOR_CB)) is None


@pytest.mark.parametrize(
    "copy",
    [
        "Grid-Monitor",
        "grid monitor",
        "  GRID  MONITOR ",
        "Grid_Monitor",
        "".join(chr(ord(c) + 0xFEE0) for c in "Grid-Monitor"),  # fullwidth,
    ],
)
def test_a_registrant_cannot_copy_an_existing_clients_name(idp: Server, copy: str) -> None:
    """The seeded operator client is "Grid-Monitor"; names are compared NFKC-normalised,
    case-folded, ignoring spaces and punctuation."""
    before = len(json.loads(admin(idp, "clients", "list", "--json")))
    with idp.client() as http:
        refused = register(http, copy)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "invalid_client_metadata"
    assert "client_name" in refused.json()["error_description"]
    assert len(json.loads(admin(idp, "clients", "list", "--json"))) == before


def test_registration_updates_cannot_take_another_clients_name(idp: Server) -> None:
    with idp.client() as http:
        first = register(http, "Weather Station")
        second = register(http, "Tide Tables")
        assert (first.status_code, second.status_code) == (201, 201)
        assert register(http, "weather  station").status_code == 400
        created = second.json()
        uri = created["registration_client_uri"]
        bearer = {"Authorization": f"Bearer {created['registration_access_token']}"}
        body = {
            "client_id": created["client_id"],
            "redirect_uris": [LOOPBACK_CB],
            "token_endpoint_auth_method": "none",
        }
        taken = http.put(uri, json={**body, "client_name": "Weather-Station"}, headers=bearer)
        assert taken.status_code == 400, taken.text
        assert taken.json()["error"] == "invalid_client_metadata"
        # Its own name (in any spelling) stays its own; the refused update rotated nothing.
        kept = http.put(uri, json={**body, "client_name": "TIDE tables"}, headers=bearer)
        assert kept.status_code == 200, kept.text
        assert kept.json()["client_name"] == "TIDE tables"
