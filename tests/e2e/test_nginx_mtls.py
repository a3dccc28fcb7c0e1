"""deploy/nginx/mtls.conf in a real nginx: nginx verifies client certificates against a
test CA and passes them in X-SSL-Client-Cert. A client authenticates with
tls_client_auth and gets a token bound to its certificate (cnf.x5t#S256) through nginx,
then calls an API behind nginx + `tollhouse gateway` with the same certificate (200)
and with another certificate from the same CA (the certificate swap: 401)."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tests.e2e.certs import issue, write_ca
from tests.e2e.conftest import (
    SENSORS,
    TOLLHOUSE,
    Seed,
    free_port,
    seed_database,
    start_server,
    stop,
)
from tests.e2e.test_nginx import NGINX, start_logged, wait_port
from tollhouse.models import AuthMethod, Client, GrantType
from tollhouse.resource.mtls import pem_thumbprint
from tollhouse.security.tls import ensure_self_signed
from tollhouse.storage.sql.storage import open_storage

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "mtls.conf"
DN = "CN=billing-batch,O=Example Grid"


@dataclass
class Deployment:
    idp: str
    api: str
    server_ca: Path
    client_ca: tuple[x509.Name, ec.EllipticCurvePrivateKey]

    def client(self, cert: Path | None) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.server_ca))
        if cert is not None:
            context.load_cert_chain(cert)
        return httpx.Client(verify=context, timeout=10)


async def add_client(url: str) -> None:
    storage = await open_storage(url)
    try:
        await storage.add_client(
            Client(
                client_id="billing-batch",
                name="Billing batch",
                redirect_uris=(),
                grant_types=(GrantType.CLIENT_CREDENTIALS,),
                token_endpoint_auth_method=AuthMethod.TLS_CLIENT_AUTH,
                created_at=int(time.time()),
                scopes=("read_sensors",),
                tls_client_auth_kind="subject_dn",
                tls_client_auth_name=DN,
            )
        )
    finally:
        await storage.close()


def site(ports: dict[str, int], cert: Path, key: Path, client_ca: Path) -> str:
    text = CONF.read_text()
    for old, new in {
        "listen 443 ssl;": f"listen 127.0.0.1:{ports['nginx']} ssl;",
        "listen 8444 ssl;": f"listen 127.0.0.1:{ports['nginx_api']} ssl;",
        "/etc/ssl/tollhouse/fullchain.pem": str(cert),
        "/etc/ssl/tollhouse/privkey.pem": str(key),
        "/etc/ssl/tollhouse/client-ca.pem": str(client_ca),
        "server 127.0.0.1:8443;": f"server 127.0.0.1:{ports['idp']};",
        "server 127.0.0.1:8081;": f"server 127.0.0.1:{ports['gateway']};",
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{ports['api']};",
    }.items():
        assert old in text, f"{old!r} should appear in {CONF.name}"
        text = text.replace(old, new)
    return text


def start_nginx(base: Path, text: str) -> subprocess.Popen[bytes]:
    prefix = base / "prefix"
    (prefix / "logs").mkdir(parents=True)
    (prefix / "mtls.conf").write_text(text)
    temp_paths = "".join(
        f"    {kind}_temp_path {prefix / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"worker_processes 1;\npid {prefix / 'nginx.pid'};\n"
        + f"error_log {prefix / 'logs' / 'error.log'} info;\n"
        + "events { worker_connections 256; }\nhttp {\n"
        + f"    access_log {prefix / 'logs' / 'access.log'};\n{temp_paths}"
        + f"    include {prefix / 'mtls.conf'};\n}}\n"
    )
    command = [str(NGINX), "-p", str(prefix), "-c", str(prefix / "nginx.conf")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    return start_logged([*command, "-g", "daemon off;"], base / "nginx.out")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    base = tmp_path_factory.mktemp("nginx-mtls")
    cert, key, _ = ensure_self_signed(base)
    client_ca = base / "client-ca.pem"
    authority = write_ca(client_ca)
    names = ("nginx", "nginx_api", "idp", "gateway", "api")
    ports = {name: free_port() for name in names}
    issuer = f"https://127.0.0.1:{ports['nginx']}"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        idp_dir = base / "idp"
        idp_dir.mkdir()
        url = f"sqlite:///{idp_dir / 'tollhouse.db'}"
        asyncio.run(seed_database(url, Seed()))
        asyncio.run(add_client(url))
        env = {"TOLLHOUSE_TLS_CLIENT_CERT_HEADER": "X-SSL-Client-Cert"}
        idp, _ = start_server(
            idp_dir, ports["idp"], "--issuer", issuer, "--trusted-proxies", "127.0.0.1", env=env
        )
        processes.append(idp)
        api_dir = base / "api"
        api_dir.mkdir()
        (api_dir / "readings").write_text('{"kw": 42}')
        api = [sys.executable, "-m", "http.server", str(ports["api"]), "--bind", "127.0.0.1"]
        processes.append(start_logged([*api, "--directory", str(api_dir)], base / "api.log"))
        wait_port(ports["api"], processes[-1], base / "api.log")
        processes.append(start_nginx(base, site(ports, cert, key, client_ca)))
        wait_port(ports["nginx"], processes[-1], base / "nginx.out")
        gateway = [str(TOLLHOUSE), "gateway", "--issuer", issuer, "--audience", SENSORS]
        gateway += ["--port", str(ports["gateway"]), "--revocation", "off"]
        gateway += ["--ca-file", str(cert), "--client-cert-header", "X-SSL-Client-Cert"]
        processes.append(start_logged(gateway, base / "gateway.log"))
        wait_port(ports["gateway"], processes[-1], base / "gateway.log")
        yield Deployment(issuer, f"https://127.0.0.1:{ports['nginx_api']}", cert, authority)
    finally:
        for process in reversed(processes):
            stop(process)


def test_a_bound_token_works_only_with_its_certificate(
    deployment: Deployment, tmp_path: Path
) -> None:
    mine = issue(tmp_path / "mine.pem", DN, *deployment.client_ca)
    other = issue(tmp_path / "other.pem", "CN=someone-else", *deployment.client_ca)
    x5t = pem_thumbprint(mine.read_text().split("-----BEGIN PRIVATE KEY-----")[0])
    data = {
        "grant_type": "client_credentials",
        "client_id": "billing-batch",
        "scope": "read_sensors",
    }
    with deployment.client(mine) as http:
        response = http.post(deployment.idp + "/token", data=data)
    assert response.status_code == 200, response.text
    access = response.json()["access_token"]
    assert jwt.decode(access, options={"verify_signature": False})["cnf"] == {"x5t#S256": x5t}
    bearer = {"Authorization": f"Bearer {access}"}
    with deployment.client(mine) as http:
        served = http.get(deployment.api + "/readings", headers=bearer)
    assert served.status_code == 200, served.text
    for cert in (other, None):
        with deployment.client(cert) as http:
            swapped = http.get(
                deployment.api + "/readings", headers={**bearer, "X-SSL-Client-Cert": "forged"}
            )
        assert swapped.status_code == 401, swapped.text
        assert 'error="invalid_token"' in swapped.headers["WWW-Authenticate"]


def test_tls_client_auth_through_nginx_needs_the_named_certificate(
    deployment: Deployment, tmp_path: Path
) -> None:
    other = issue(tmp_path / "other.pem", "CN=someone-else", *deployment.client_ca)
    data = {"grant_type": "client_credentials", "client_id": "billing-batch"}
    for cert in (other, None):
        with deployment.client(cert) as http:
            response = http.post(deployment.idp + "/token", data=data)
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_client"
