"""deploy/nginx/gateway.conf with a real nginx, a real ``tollhouse gateway`` and a real IdP.

nginx runs in the foreground on 127.0.0.1 with a temporary prefix; the API behind it
is a tiny HTTP server that echoes the identity headers it received. Skips when nginx is
not installed, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import SENSORS, TOLLHOUSE, Server, free_port, stop
from tests.resource.conftest import discovery, issue_token

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nginx"


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is not installed (.ci/run installs Debian's nginx)")
        pytest.skip("nginx is not installed: apt-get install nginx to run this test")
    return found


class Echo(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        record = {"path": self.path, **{k.lower(): v for k, v in self.headers.items()}}
        Echo.seen.append(record)
        body = json.dumps(record).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}:\n{log.read_text()}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up:\n{log.read_text()}")


@dataclass
class Stack:
    url: str
    seen: list[dict[str, Any]]


@pytest.fixture(scope="module")
def stack(idp: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    nginx = nginx_binary()
    tmp = tmp_path_factory.mktemp("nginx")
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(
        target=upstream.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    gateway_port, nginx_port = free_port(), free_port()
    gateway_log = tmp / "gateway.log"
    with gateway_log.open("wb") as handle:
        gateway = subprocess.Popen(
            [
                *(str(TOLLHOUSE), "gateway", "--issuer", idp.base_url, "--audience", SENSORS),
                *("--port", str(gateway_port), "--revocation", "auto"),
                *("--client-id", idp.seed.confidential_id),
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TOLLHOUSE_GATEWAY_CLIENT_SECRET": idp.seed.confidential_secret},
        )
    nginx_process: subprocess.Popen[bytes] | None = None
    try:
        wait_until_up(f"http://127.0.0.1:{gateway_port}/healthz", gateway, gateway_log)
        snippet = (DEPLOY / "tollhouse-auth.conf").read_text()
        (tmp / "tollhouse-auth.conf").write_text(snippet)
        site = (DEPLOY / "gateway.conf").read_text()
        site = site.replace("127.0.0.1:8081", f"127.0.0.1:{gateway_port}")
        site = site.replace("127.0.0.1:8000", f"127.0.0.1:{upstream.server_address[1]}")
        site = site.replace("127.0.0.1:8080", f"127.0.0.1:{nginx_port}")
        site = site.replace(
            "/etc/nginx/snippets/tollhouse-auth.conf", str(tmp / "tollhouse-auth.conf")
        )
        (tmp / "site.conf").write_text(site)
        temp_paths = "\n".join(
            f"    {name}_temp_path {tmp / name};"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (tmp / "nginx.conf").write_text(
            f"daemon off;\nworker_processes 1;\npid {tmp / 'nginx.pid'};\n"
            f"error_log {tmp / 'error.log'} warn;\n"
            "events { worker_connections 64; }\n"
            f"http {{\n    access_log off;\n{temp_paths}\n    include {tmp / 'site.conf'};\n}}\n"
        )
        nginx_log = tmp / "nginx.out"
        with nginx_log.open("wb") as handle:
            nginx_process = subprocess.Popen(
                [
                    nginx,
                    "-p",
                    str(tmp),
                    "-c",
                    str(tmp / "nginx.conf"),
                    "-e",
                    str(tmp / "error.log"),
                ],
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        wait_until_up(f"http://127.0.0.1:{nginx_port}/", nginx_process, tmp / "error.log")
        yield Stack(f"http://127.0.0.1:{nginx_port}", Echo.seen)
    finally:
        if nginx_process is not None:
            stop(nginx_process)
        stop(gateway)
        upstream.shutdown()
        upstream.server_close()


@pytest.fixture(scope="module")
def token(idp: Server) -> str:
    return issue_token(idp, "read_sensors")


def test_request_without_token_never_reaches_the_api(stack: Stack) -> None:
    before = len(stack.seen)
    response = httpx.get(stack.url + "/readings")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f'Bearer realm="{SENSORS}"'
    assert len(stack.seen) == before


def test_valid_token_reaches_the_api_with_identity_headers(
    stack: Stack, idp: Server, token: str
) -> None:
    response = httpx.get(
        stack.url + "/readings",
        headers={"Authorization": f"Bearer {token}", "X-Auth-Subject": "forged"},
    )
    assert response.status_code == 200, response.text
    seen = response.json()
    assert seen["path"] == "/readings"
    assert seen["x-auth-subject"] == idp.seed.user_id
    assert seen["x-auth-client-id"] == idp.seed.confidential_id
    assert seen["x-auth-scopes"] == "read_sensors"


def test_missing_scope_is_403_with_the_challenge(stack: Stack, token: str) -> None:
    response = httpx.get(stack.url + "/admin/reset", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="read_sensors write_sensors"' in challenge


def test_invalid_and_malformed_tokens_are_401(stack: Stack, token: str) -> None:
    forged = token[:-8] + ("A" * 8 if not token.endswith("A" * 8) else "B" * 8)
    response = httpx.get(stack.url + "/readings", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert response.headers.get_list("www-authenticate") == [response.headers["www-authenticate"]]
    malformed = httpx.get(stack.url + "/readings", headers={"Authorization": "Bearer a b"})
    assert malformed.status_code == 401
    assert 'error="invalid_request"' in malformed.headers["www-authenticate"]


def test_a_token_revoked_at_the_idp_is_refused_within_seconds(stack: Stack, idp: Server) -> None:
    if "revocation_feed_endpoint" not in discovery(idp):
        pytest.skip("the IdP's discovery does not list revocation_feed_endpoint yet")
    victim = issue_token(idp, "read_sensors")
    headers = {"Authorization": f"Bearer {victim}"}
    assert httpx.get(stack.url + "/readings", headers=headers).status_code == 200
    with idp.client() as http:
        revoked = http.post(
            "/revoke",
            data={"token": victim},
            auth=(idp.seed.confidential_id, idp.seed.confidential_secret),
        )
    assert revoked.status_code == 200, revoked.text
    started = time.monotonic()
    while (response := httpx.get(stack.url + "/readings", headers=headers)).status_code == 200:
        assert time.monotonic() - started < 10, "the gateway still lets the revoked token in"
        time.sleep(0.2)
    assert response.status_code == 401
    assert "revoked" in response.headers["www-authenticate"]
