"""``tollhouse serve`` as operators start it: TLS 1.3 by default, the demo banner,
restarts that keep state, and configuration refused with one line."""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.e2e.conftest import TOLLHOUSE, free_port, start_server, stop, wait_healthy
from tests.e2e.flows import Callback, browse


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TOLLHOUSE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_https_with_tls13_only_by_default(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [str(TOLLHOUSE), "serve", "--port", str(port), "--data-dir", str(tmp_path)],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        cert = tmp_path / "tls" / "localhost.crt"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                response = httpx.get(
                    f"https://localhost:{port}/healthz",
                    verify=ssl.create_default_context(cafile=cert),
                    timeout=1,
                )
                if response.status_code == 200:
                    break
            except (httpx.HTTPError, OSError, ssl.SSLError):
                time.sleep(0.2)
        else:
            pytest.fail(log.read_text())
        assert "self-signed" in log.read_text()
        doc = httpx.get(
            f"https://localhost:{port}/.well-known/openid-configuration",
            verify=ssl.create_default_context(cafile=cert),
        ).json()
        assert doc["issuer"] == f"https://localhost:{port}"

        tls12 = ssl.create_default_context(cafile=cert)
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
            pytest.raises((ssl.SSLError, ConnectionResetError)),
            tls12.wrap_socket(sock, server_hostname="localhost"),
        ):
            pass
        tls13 = ssl.create_default_context(cafile=cert)
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
            tls13.wrap_socket(sock, server_hostname="localhost") as tls,
        ):
            assert tls.version() == "TLSv1.3"
        hsts = httpx.get(
            f"https://localhost:{port}/healthz", verify=ssl.create_default_context(cafile=cert)
        )
        assert "max-age" in hsts.headers["strict-transport-security"]
    finally:
        stop(process)


def test_demo_banner_url_completes_the_flow(tmp_path: Path) -> None:
    port = free_port()
    process, log_path = start_server(tmp_path, port, "--seed-demo")
    try:
        banner = log_path.read_text()
        issuer = re.search(r"^Issuer: (\S+)$", banner, re.M)
        url = re.search(r"^Authorization URL: (\S+)$", banner, re.M)
        secret = re.search(r"^Demo client: grid-monitor \(secret: (\S+)\)$", banner, re.M)
        password = re.search(r"^Demo user: operator \(password: (\S+)\)$", banner, re.M)
        verifier = re.search(r"^PKCE code_verifier for that URL: (\S+)$", banner, re.M)
        assert issuer and url and secret and password and verifier, banner
        assert issuer.group(1) == f"http://127.0.0.1:{port}"
        query = {k: v[0] for k, v in parse_qs(urlsplit(url.group(1)).query).items()}
        with httpx.Client(base_url=issuer.group(1), timeout=10) as http:
            result = browse(http, query, username="operator", password=password.group(1))
            assert isinstance(result, Callback), result
            token = http.post(
                "/token",
                data={
                    "grant_type": "authorization_code",
                    "code": result.code,
                    "redirect_uri": "http://127.0.0.1:9000/callback",
                    "code_verifier": verifier.group(1),
                },
                auth=("grid-monitor", secret.group(1)),
            )
        assert token.status_code == 200, token.text
        assert token.json()["scope"] == "read_sensors"
    finally:
        stop(process)
    # A second start prints the same credentials.
    process, log_path = start_server(tmp_path, port, "--seed-demo")
    try:
        assert secret.group(1) in log_path.read_text()
    finally:
        stop(process)


@pytest.mark.slow
def test_restart_keeps_clients_users_and_keys(tmp_path: Path) -> None:
    port = free_port()
    created = run_cli(
        "clients",
        "create",
        "--name",
        "Keeper",
        "--redirect-uri",
        "https://keeper.test/cb",
        "--json",
        "--data-dir",
        str(tmp_path),
        env={"TOLLHOUSE_TEST_FAST_HASH": "1"},
    )
    assert created.returncode == 0, created.stderr
    process, _ = start_server(tmp_path, port)
    try:
        first = httpx.get(f"http://127.0.0.1:{port}/jwks.json").json()
    finally:
        stop(process)
    process, _ = start_server(tmp_path, port)
    try:
        second = httpx.get(f"http://127.0.0.1:{port}/jwks.json").json()
        page = httpx.get(
            f"http://127.0.0.1:{port}/authorize",
            params={"client_id": "x" + "y", "response_type": "code"},
        )
        assert page.status_code == 400
    finally:
        stop(process)
    assert [k["kid"] for k in first["keys"]] == [k["kid"] for k in second["keys"]]
    listed = run_cli("clients", "list", "--json", "--data-dir", str(tmp_path))
    assert "Keeper" in listed.stdout
    key_file = tmp_path / "master.key"
    assert key_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--insecure-http", "--host", "0.0.0.0"], {}, "loopback"),
        ([], {"TOLLHOUSE_ACCESS_TOKEN_TTL": "4000"}, "access_token_ttl"),
        (["--issuer", "http://idp.example.test"], {}, "https"),
        ([], {"TOLLHOUSE_CODE_TTL": "120"}, "code_ttl"),
        ([], {"TOLLHOUSE_MASTER_KEY": "not-base64-of-32-bytes"}, "master"),
        (
            [],
            {"TOLLHOUSE_SEED_DEMO": "maybe"},
            "(tollhouse_seed_demo): 'maybe' is not a boolean; use 1, true, yes or 0, false, no",
        ),
        (
            [],
            {"TOLLHOUSE_ACCESS_TOKEN_TTL": "15m"},
            "(tollhouse_access_token_ttl): '15m' is not a whole number of seconds",
        ),
        ([], {"TOLLHOUSE_SIGNING_ALG": "HS256"}, "use 'es256', 'rs256' or 'eddsa'"),
    ],
)
def test_invalid_configuration_stops_startup_with_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    result = run_cli(
        "serve", "--port", str(free_port()), "--data-dir", str(tmp_path), *args, env=env
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert message in lines[0].lower()
    assert "Traceback" not in result.stderr


def test_unknown_variables_are_named_at_start_with_the_nearest_known_one(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "TOLLHOUSE_ACESS_TOKEN_TTL": "300",
        "TOLLHOUSE_FROBNICATE": "1",
        # Read outside the settings: never flagged.
        "TOLLHOUSE_NEW_MASTER_KEY": "",
        "TOLLHOUSE_GATEWAY_ISSUER": "http://127.0.0.1:1",
        "TOLLHOUSE_TEST_FAST_HASH": "1",
    }
    process, log_path = start_server(tmp_path, port, env=env)  # a warning, not a refusal
    stop(process)
    warnings = [line for line in log_path.read_text().splitlines() if "is not a Tollhouse" in line]
    assert warnings == [
        "warning [config] TOLLHOUSE_ACESS_TOKEN_TTL is not a Tollhouse variable and is ignored"
        " — did you mean TOLLHOUSE_ACCESS_TOKEN_TTL?",
        "warning [config] TOLLHOUSE_FROBNICATE is not a Tollhouse variable and is ignored"
        " — remove it; README, Configuration, lists every variable",
    ]


def test_health_endpoint(tmp_path: Path) -> None:
    port = free_port()
    process, log_path = start_server(tmp_path, port)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, log_path)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
    finally:
        stop(process)
