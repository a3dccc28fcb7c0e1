"""Headless Chromium (Debian's ``chromium``) driven by Playwright, against a real
``tollhouse serve`` and a tiny local HTTP server standing in for the clients' callbacks.

Playwright's own browser download is never used: the browser is launched with
``executable_path``. Without Chromium (or Playwright) the tests skip, unless
``CI=true``, where they fail. Screenshots go to ``test-output/browser/`` (gitignored;
``TOLLHOUSE_TEST_OUTPUT`` moves it).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.e2e.conftest import HASHER, free_port, start_server, stop
from tests.e2e.flows import pkce_pair
from tollhouse.models import AuthMethod, Client, GrantType, User
from tollhouse.storage.sql.storage import open_storage

CHROMIUM = Path(os.environ.get("TOLLHOUSE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
OUTPUT = Path(os.environ.get("TOLLHOUSE_TEST_OUTPUT", ROOT / "test-output")) / "browser"
SECRET = "browser-secret-" + "b" * 30
USERS = ("dana", "erin", "fran", "gus", "hana", "ivo")
"""One user per test: consent given in one test does not change the next."""
PASSWORD = "a long passphrase for the browser tests"
LOGO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40">'
    '<rect width="40" height="40" rx="8" fill="#0b5cad"/>'
    '<path d="M10 29 L20 10 L30 29 Z" fill="#ffd447"/></svg>'
)


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required when CI=true; .ci/run installs it)")
    pytest.skip(reason)


@dataclass
class Callbacks:
    """Records every request to the clients' redirect URIs."""

    base: str
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def last(self, path: str) -> dict[str, str]:
        found = [query for seen_path, query in self.seen if seen_path == path]
        assert found, f"nothing arrived at {path}; seen: {self.seen}"
        return found[-1]


def _recorder(callbacks: Callbacks) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            callbacks.seen.append((parts.path, query))
            body = b"<!doctype html><title>client</title><h1>Back at the client</h1>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@dataclass
class Idp:
    base: str
    callbacks: Callbacks

    def authorize_url(self, client_id: str, **extra: str) -> str:
        _, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": f"{self.callbacks.base}/{client_id}/cb",
            "scope": "openid profile email",
            "state": f"state-{client_id}",
            "nonce": f"nonce-{client_id}",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }
        return f"{self.base}/authorize?{urlencode(params)}"


async def _seed(url: str, callbacks: str) -> None:
    storage = await open_storage(url)
    try:
        now = int(time.time())
        grants = (GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN)
        for client_id, name in (
            ("app-a", "Meter Dashboard"),
            ("app-b", "Billing Portal"),
            ("app-c", "Stranger App"),
        ):
            await storage.add_client(
                Client(
                    client_id,
                    name,
                    (f"{callbacks}/{client_id}/cb",),
                    grants,
                    AuthMethod.CLIENT_SECRET_BASIC,
                    now,
                    HASHER.hash(SECRET),
                    post_logout_redirect_uris=(f"{callbacks}/{client_id}/bye",),
                    # app-c came through open registration: nobody vouched for it.
                    self_registered=client_id == "app-c",
                )
            )
        await storage.add_client(
            Client("sensor-hub", "Sensor Hub", (), (GrantType.DEVICE_CODE,), AuthMethod.NONE, now)
        )  # fmt: skip
        for username in USERS:
            await storage.add_user(
                User(f"{username}-id", username, HASHER.hash(PASSWORD), now,
                     email=f"{username}@example.test", name=username.title(), email_verified=True)
            )  # fmt: skip
    finally:
        await storage.close()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    callbacks = Callbacks("")
    recorder = ThreadingHTTPServer(("127.0.0.1", 0), _recorder(callbacks))
    callbacks.base = f"http://127.0.0.1:{recorder.server_address[1]}"
    thread = threading.Thread(target=recorder.serve_forever, daemon=True)
    thread.start()
    data_dir = tmp_path_factory.mktemp("browser-idp")
    asyncio.run(_seed(f"sqlite:///{data_dir / 'tollhouse.db'}", callbacks.base))
    port = free_port()
    logo = data_dir / "logo.svg"
    logo.write_text(LOGO_SVG)
    process, _ = start_server(
        data_dir,
        port,
        env={"TOLLHOUSE_OPERATOR_NAME": "Northwind Energy", "TOLLHOUSE_OPERATOR_LOGO": str(logo)},
    )
    try:
        yield Idp(f"http://127.0.0.1:{port}", callbacks)
    finally:
        stop(process)
        recorder.shutdown()
        recorder.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _missing(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield launched
        finally:
            launched.close()
