"""Built-in TLS: 1.3 only (``openssl s_client -tls1_2`` is refused), and a new certificate
is served after SIGHUP without a restart."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.certs import peer_serial, write_certificate
from tests.e2e.conftest import TOLLHOUSE, free_port, stop

FIRST, SECOND = 0x1111_AAAA, 0x2222_BBBB
OPENSSL = shutil.which("openssl")


@dataclass
class TlsServer:
    port: int
    cert: Path
    key: Path
    process: subprocess.Popen[bytes]
    log_path: Path


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    data_dir = tmp_path_factory.mktemp("tls")
    cert, key = data_dir / "server.crt", data_dir / "server.key"
    write_certificate(cert, key, FIRST)
    port = free_port()
    log_path = data_dir / "server.log"
    with log_path.open("wb") as handle:
        process = subprocess.Popen(
            [
                str(TOLLHOUSE),
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                "--tls-cert",
                str(cert),
                "--tls-key",
                str(key),
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(log_path.read_text())
        try:
            url = f"https://127.0.0.1:{port}/healthz"
            return httpx.get(url, verify=False, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert wait_for(healthy, 30), log_path.read_text()
        yield TlsServer(port, cert, key, process, log_path)
    finally:
        stop(process)


def s_client(port: int, version_flag: str) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run(
        [
            OPENSSL,
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-servername",
            "localhost",
            version_flag,
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


@pytest.mark.skipif(OPENSSL is None, reason="the openssl command-line tool is not installed")
def test_openssl_tls12_client_is_refused_and_tls13_client_is_served(
    tls_server: TlsServer,
) -> None:
    refused = s_client(tls_server.port, "-tls1_2")
    assert refused.returncode != 0, refused.stdout
    assert "Cipher is (NONE)" in refused.stdout  # the handshake failed: no session
    served = s_client(tls_server.port, "-tls1_3")
    assert served.returncode == 0, served.stderr
    assert "TLSv1.3" in served.stdout


def test_sighup_serves_the_replaced_certificate_to_new_connections(
    tls_server: TlsServer,
) -> None:
    assert peer_serial(tls_server.port) == FIRST
    # A connection opened before the reload keeps working afterwards.
    with httpx.Client(base_url=f"https://127.0.0.1:{tls_server.port}", verify=False) as kept:
        assert kept.get("/healthz").status_code == 200
        write_certificate(tls_server.cert, tls_server.key, SECOND)
        assert peer_serial(tls_server.port) == FIRST  # files alone change nothing
        tls_server.process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: peer_serial(tls_server.port) == SECOND, 10)
        assert kept.get("/healthz").status_code == 200
    assert tls_server.process.poll() is None, "SIGHUP must not stop the server"
    assert '"event":"tls_reload"' in tls_server.log_path.read_text()


def test_sighup_with_a_broken_certificate_keeps_serving_the_previous_one(
    tls_server: TlsServer,
) -> None:
    before = peer_serial(tls_server.port)
    good = tls_server.cert.read_bytes()
    try:
        tls_server.cert.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n")
        tls_server.process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "tls_reload_failed" in tls_server.log_path.read_text(), 10)
        assert peer_serial(tls_server.port) == before
        assert tls_server.process.poll() is None
    finally:
        tls_server.cert.write_bytes(good)
