"""``tollhouse serve`` start-up through the real process: settings refused before
anything is written, the port bound before "Listening on" is printed, the serving
settings recorded for admin commands, and the access log file reopened on SIGHUP."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.cli_runner import Cli
from tests.e2e.conftest import TOLLHOUSE, free_port, start_server, stop


def run_serve(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TOLLHOUSE), "serve", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one stderr line of a refused start (exit 1, no traceback)."""
    assert result.returncode == 1, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def wait_for_line(process: subprocess.Popen[bytes], log: Path, pattern: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text(errors="replace"), re.M)
        if found:
            return found.group(0)
        if process.poll() is not None:
            pytest.fail(f"serve exited with {process.returncode}:\n{log.read_text()}")
        time.sleep(0.02)
    pytest.fail(f"no line {pattern!r}:\n{log.read_text()}")


def popen_serve(
    data_dir: Path, log: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(
            [str(TOLLHOUSE), "serve", "--data-dir", str(data_dir), *args],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )


def access_lines(path: Path, last_path: str) -> list[dict[str, object]]:
    """The lines of ``path`` once the last one is for ``last_path``: a line is written
    just after its response is sent, so the client may read the response first."""
    deadline = time.monotonic() + 10
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        parsed = [json.loads(line) for line in lines]
        if (parsed and parsed[-1]["path"] == last_path) or time.monotonic() > deadline:
            return parsed
        time.sleep(0.05)


# Start-up tells the truth ---------------------------------------------------------------


def test_a_request_right_after_listening_is_answered(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    process = popen_serve(tmp_path, log, "--insecure-http", "--port", str(port))
    try:
        line = wait_for_line(process, log, r"^Listening on .*$")
        assert line == f"Listening on http://127.0.0.1:{port}"
        # No retry: the socket listens before the line is printed.
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=20).status_code == 200
    finally:
        stop(process)


def test_port_in_use_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_serve(tmp_path / "data", "--insecure-http", "--port", str(port))
    line = one_line(result)
    assert line.startswith(f"error: cannot listen on 127.0.0.1:{port}"), line
    assert "Listening" not in result.stdout


def test_bad_master_key_is_refused_before_the_certificate_is_written(tmp_path: Path) -> None:
    result = run_serve(
        tmp_path, "--port", str(free_port()), env={"TOLLHOUSE_MASTER_KEY": "bm90IDMyIGJ5dGVz"}
    )
    assert "TOLLHOUSE_MASTER_KEY" in one_line(result)
    assert not (tmp_path / "tls").exists()
    assert not (tmp_path / "tollhouse.db").exists()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_refused_with_one_line(tmp_path: Path, url: str) -> None:
    result = run_serve(tmp_path, "--insecure-http", "--port", str(free_port()), "--database", url)
    line = one_line(result)
    assert "TOLLHOUSE_DATABASE" in line and "in-memory" in line, line


def test_unreachable_redis_is_a_warning_at_start(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens there
    port = free_port()
    process, log = start_server(tmp_path, port, "--redis", f"redis://127.0.0.1:{dead}/0")
    try:
        text = log.read_text()
        assert re.search(rf"^warning: Redis at 127\.0\.0\.1:{dead} .*cannot be reached", text, re.M)
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 503
    finally:
        stop(process)


def test_demo_banner_trusts_the_certificate_and_says_how_long_the_code_lives(
    tmp_path: Path,
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    process = popen_serve(tmp_path, log, "--seed-demo", "--port", str(port))
    try:
        wait_for_line(process, log, r"^Listening on .*$")
        text = log.read_text()
        cert = tmp_path / "tls" / "localhost.crt"
        assert f"Issuer: https://localhost:{port}" in text
        assert (
            f"Listening on https://127.0.0.1:{port} for the issuer https://localhost:{port}" in text
        )
        assert f"curl --cacert {cert} -u grid-monitor:" in text
        assert " -k " not in text
        assert "within 60 s (TOLLHOUSE_CODE_TTL" in text
        verify = ssl.create_default_context(cafile=cert)
        doc = httpx.get(f"https://localhost:{port}/.well-known/openid-configuration", verify=verify)
        assert doc.json()["issuer"] == f"https://localhost:{port}"
    finally:
        stop(process)


# Admin commands know the server they administer -----------------------------------------


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path_factory.mktemp("served")
    port = free_port()
    process, _ = start_server(data_dir, port)
    try:
        yield f"http://127.0.0.1:{port}", data_dir
    finally:
        stop(process)


def test_serve_records_its_settings_owner_only(running: tuple[str, Path]) -> None:
    base_url, data_dir = running
    path = data_dir / "serving.json"
    assert path.stat().st_mode & 0o777 == 0o600
    recorded = json.loads(path.read_text())["settings"]
    assert recorded["insecure_http"] is True
    assert f"http://127.0.0.1:{recorded['port']}" == base_url


@pytest.mark.slow
def test_admin_commands_use_the_running_servers_issuer(running: tuple[str, Path]) -> None:
    base_url, data_dir = running
    cli = Cli(data_dir)
    # An http loopback issuer in the environment, as for the server: no flag needed.
    cli.env["TOLLHOUSE_ISSUER"] = base_url
    api = cli("apis", "create", "--identifier", "https://meters.test", "--scope", "read_meters")
    api.assert_ok()
    del cli.env["TOLLHOUSE_ISSUER"]
    created = (
        cli(
            "clients",
            "create",
            "--name",
            "Meter",
            "--grant-type",
            "client_credentials",
            "--scope",
            "read_meters",
            "--json",
        )
        .assert_ok()
        .json()
    )
    token = httpx.post(
        f"{base_url}/token",
        data={"grant_type": "client_credentials", "scope": "read_meters"},
        auth=(created["client_id"], created["client_secret"]),
    )
    assert token.status_code == 200, token.text

    inspected = cli("token", "inspect", token.json()["access_token"]).assert_ok()
    assert "valid here: yes" in inspected.stdout
    assert "✓ iss" in inspected.stdout and base_url in inspected.stdout

    report = cli("doctor", "--json", "--url", base_url)
    assert report.code == 0, report
    said = [f["what"] for f in report.json()["findings"] if f["level"] == "ok"]
    assert any(f"issuer {base_url}" in what for what in said), said
    assert not any("https://localhost:8443" in what for what in said)


# The access log file --------------------------------------------------------------------


def test_access_log_file_carries_the_error_code_and_is_reopened_on_sighup(
    tmp_path: Path,
) -> None:
    access = tmp_path / "logs" / "access.log"
    access.parent.mkdir()
    port = free_port()
    log = tmp_path / "serve.log"
    # HTTPS: SIGHUP also reloads the certificate; both must happen.
    process = popen_serve(
        tmp_path, log, "--port", str(port), env={"TOLLHOUSE_ACCESS_LOG": str(access)}
    )
    try:
        wait_for_line(process, log, r"^Listening on .*$")
        verify = ssl.create_default_context(cafile=tmp_path / "tls" / "localhost.crt")
        with httpx.Client(base_url=f"https://localhost:{port}", verify=verify, timeout=10) as http:
            refused = http.post(
                "/token",
                data={"grant_type": "authorization_code", "code": "nope", "redirect_uri": "x"},
                auth=("nobody", "wrong"),
            )
            assert refused.status_code == 401
            first = access_lines(access, "/token")
            assert first[-1]["path"] == "/token" and first[-1]["error"] == "invalid_client"
            assert first[-1]["logger"] == "tollhouse.access"
            assert '"logger":"tollhouse.access"' not in log.read_text()  # not on stderr too

            rotated = access.with_suffix(".log.1")
            access.rename(rotated)
            process.send_signal(signal.SIGHUP)
            wait_for_line(process, log, r'.*"TLS certificate reloaded".*')
            assert http.get("/healthz").status_code == 200
            assert process.poll() is None
        after = access_lines(access, "/healthz")
        assert [line["path"] for line in after] == ["/healthz"]
        assert json.loads(rotated.read_text().splitlines()[-1])["path"] == "/token"
    finally:
        stop(process)


def test_access_log_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    result = run_serve(
        tmp_path,
        "--insecure-http",
        "--port",
        str(free_port()),
        env={"TOLLHOUSE_ACCESS_LOG": str(tmp_path / "nowhere" / "access.log")},
    )
    assert "TOLLHOUSE_ACCESS_LOG" in one_line(result)


def test_sighup_without_certificate_or_log_file_keeps_serving(running: tuple[str, Path]) -> None:
    base_url, data_dir = running
    pid = json.loads((data_dir / "serving.json").read_text())["pid"]
    os.kill(pid, signal.SIGHUP)
    time.sleep(0.3)
    assert httpx.get(f"{base_url}/healthz").status_code == 200
