"""deploy/nginx/tollhouse.conf in a real Debian nginx: the code flow end to end over
TLS 1.3 through nginx, forwarded headers honoured, the auth_request example guarding an
API through `tollhouse gateway`, and nginx's own rate limit."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import (
    CALLBACK,
    SENSORS,
    TOLLHOUSE,
    Seed,
    free_port,
    seed_database,
    start_server,
    stop,
)
from tests.e2e.flows import Callback, browse, code_params, exchange, pkce_pair
from tollhouse.security.tls import ensure_self_signed

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "tollhouse.conf"
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
)

if NGINX is None:
    if os.environ.get("CI") == "true":
        pytest.fail("nginx is required in CI (.ci/run installs it)", pytrace=False)
    pytest.skip("nginx is not installed (apt-get install -y nginx)", allow_module_level=True)


@dataclass
class Deployment:
    issuer: str
    ca: ssl.SSLContext
    seed: Seed
    nginx_port: int
    idp_log: Path
    nginx_dir: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.issuer, verify=self.ca, timeout=10)


def substitute(text: str, replacements: dict[str, str]) -> str:
    """Replace each deployment-specific line of the shipped file; every one must exist,
    so the test breaks if the file changes shape instead of testing something else."""
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{old!r} should appear once in {CONF.name}"
        text = text.replace(old, new)
    return text


def wait_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}:\n{log.read_text()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} did not open:\n{log.read_text()}")


def start_logged(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    base = tmp_path_factory.mktemp("nginx")
    cert, key, _ = ensure_self_signed(base)  # localhost, 127.0.0.1, ::1
    ports = {name: free_port() for name in ("nginx", "http", "idp", "gateway", "api")}
    issuer = f"https://127.0.0.1:{ports['nginx']}"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        # Tollhouse on loopback plain HTTP, trusting nginx's forwarded headers.
        seed = Seed()
        idp_dir = base / "idp"
        idp_dir.mkdir()
        asyncio.run(seed_database(f"sqlite:///{idp_dir / 'tollhouse.db'}", seed))
        idp, idp_log = start_server(
            idp_dir,
            ports["idp"],
            "--issuer",
            issuer,
            "--trusted-proxies",
            "127.0.0.1",
            env={"TOLLHOUSE_RATE_LIMIT_TOKEN": "off"},
        )
        processes.append(idp)

        # The example API: a static file behind the auth_request check.
        api_dir = base / "api"
        api_dir.mkdir()
        (api_dir / "readings").write_text('{"kw": 42}')
        api_log = base / "api.log"
        processes.append(
            start_logged(
                [
                    sys.executable,
                    "-m",
                    "http.server",
                    str(ports["api"]),
                    "--bind",
                    "127.0.0.1",
                    "--directory",
                    str(api_dir),
                ],
                api_log,
            )
        )
        wait_port(ports["api"], processes[-1], api_log)

        nginx_dir = base / "prefix"
        (nginx_dir / "logs").mkdir(parents=True)
        site = substitute(
            CONF.read_text(),
            {
                "listen 80;": f"listen 127.0.0.1:{ports['http']};",
                "listen 443 ssl http2;": f"listen 127.0.0.1:{ports['nginx']} ssl http2;",
                "/etc/ssl/tollhouse/fullchain.pem": str(cert),
                "/etc/ssl/tollhouse/privkey.pem": str(key),
                "server 127.0.0.1:8443;": f"server 127.0.0.1:{ports['idp']};",
                "server 127.0.0.1:8081;": f"server 127.0.0.1:{ports['gateway']};",
                "server 127.0.0.1:8000;": f"server 127.0.0.1:{ports['api']};",
            },
        )
        (nginx_dir / "tollhouse.conf").write_text(site)
        user = "user root;\n" if os.geteuid() == 0 else ""
        temp_paths = "".join(
            f"    {kind}_temp_path {nginx_dir / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (nginx_dir / "nginx.conf").write_text(
            f"{user}worker_processes 1;\n"
            f"pid {nginx_dir / 'nginx.pid'};\n"
            f"error_log {nginx_dir / 'logs' / 'error.log'} info;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"    access_log {nginx_dir / 'logs' / 'access.log'};\n"
            f"{temp_paths}"
            f"    include {nginx_dir / 'tollhouse.conf'};\n"
            "}\n"
        )
        command = [NGINX, "-p", str(nginx_dir), "-c", str(nginx_dir / "nginx.conf")]
        checked = subprocess.run(
            [*command, "-t"], capture_output=True, text=True, timeout=30, check=False
        )
        assert checked.returncode == 0, checked.stderr
        nginx_log = base / "nginx.out"
        processes.append(start_logged([*command, "-g", "daemon off;"], nginx_log))
        wait_port(ports["nginx"], processes[-1], nginx_log)

        gateway_log = base / "gateway.log"
        processes.append(
            start_logged(
                [
                    str(TOLLHOUSE),
                    "gateway",
                    "--issuer",
                    issuer,
                    "--audience",
                    SENSORS,
                    "--port",
                    str(ports["gateway"]),
                    "--revocation",
                    "off",
                    "--ca-file",
                    str(cert),
                ],
                gateway_log,
            )
        )
        wait_port(ports["gateway"], processes[-1], gateway_log)

        ca = ssl.create_default_context(cafile=str(cert))
        yield Deployment(issuer, ca, seed, ports["nginx"], idp_log, nginx_dir)
    finally:
        for process in reversed(processes):
            stop(process)


def test_nginx_terminates_tls13_only(deployment: Deployment) -> None:
    with (
        socket.create_connection(("127.0.0.1", deployment.nginx_port), timeout=5) as sock,
        deployment.ca.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() == "TLSv1.3"
    tls12 = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls12.check_hostname = False
    tls12.verify_mode = ssl.CERT_NONE
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(("127.0.0.1", deployment.nginx_port), timeout=5) as sock,
        pytest.raises((ssl.SSLError, ConnectionResetError)),
        tls12.wrap_socket(sock, server_hostname="127.0.0.1"),
    ):
        pass


def test_discovery_through_nginx_names_the_https_issuer(deployment: Deployment) -> None:
    with deployment.client() as http:
        doc = http.get("/.well-known/openid-configuration").json()
    assert doc["issuer"] == deployment.issuer
    assert doc["token_endpoint"] == f"{deployment.issuer}/token"


def test_code_flow_end_to_end_through_nginx_and_the_auth_request_example(
    deployment: Deployment,
) -> None:
    seed = deployment.seed
    verifier, challenge = pkce_pair()
    params = code_params(seed, challenge, state="via-nginx")
    with deployment.client() as http:
        result = browse(http, params, username=seed.username, password=seed.password)
        assert isinstance(result, Callback), getattr(result, "text", result)
        assert result.params["iss"] == deployment.issuer
        # The public origin is https, so the login cookies are __Host- and Secure.
        names = {cookie.name: cookie.secure for cookie in http.cookies.jar}
        assert names.get("__Host-tollhouse_session") is True, names
        response = exchange(
            http,
            result.code,
            verifier=verifier,
            redirect_uri=CALLBACK,
            auth=(seed.confidential_id, seed.confidential_secret),
        )
        assert response.status_code == 200, response.text
        # X-Forwarded-Proto https from the trusted proxy: Tollhouse sends HSTS.
        assert "max-age" in response.headers["strict-transport-security"]
        access_token = response.json()["access_token"]

        refused = http.get("/api/readings")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        allowed = http.get("/api/readings", headers={"Authorization": f"Bearer {access_token}"})
        assert allowed.status_code == 200, allowed.text
        assert allowed.json() == {"kw": 42}


def logged_line(log: Path, request_id: str) -> str:
    """The access-log line of ``request_id``: the server writes it after answering."""
    deadline = time.monotonic() + 30
    while True:
        found = [raw for raw in log.read_text().splitlines() if request_id in raw]
        if found or time.monotonic() > deadline:
            assert found, f"no access-log line for {request_id}"
            return found[0]
        time.sleep(0.05)


def test_forged_forwarded_for_from_a_client_does_not_reach_tollhouse(
    deployment: Deployment,
) -> None:
    with deployment.client() as http:
        response = http.get("/healthz", headers={"X-Forwarded-For": "198.51.100.66"})
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    line = logged_line(deployment.idp_log, request_id)
    assert '"client":"127.0.0.1"' in line
    assert "198.51.100.66" not in line


def test_nginx_rate_limits_the_token_endpoint(deployment: Deployment) -> None:
    with deployment.client() as http:
        statuses = [
            http.post("/token", data={"grant_type": "client_credentials"}) for _ in range(40)
        ]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert "nginx" in limited[0].text  # nginx's own page: Tollhouse never saw the request


def test_metrics_through_nginx_answer_a_scraper_on_the_host(deployment: Deployment) -> None:
    """nginx passes /metrics from loopback only, naming the client in X-Forwarded-For;
    Tollhouse trusts nginx, so the forwarded client is local and gets the counters."""
    with deployment.client() as http:
        response = http.get("/metrics")
    assert response.status_code == 200, response.text
    assert "tollhouse_http_requests_total" in response.text
