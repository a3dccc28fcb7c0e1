"""``tollhouse device list|deny`` and ``tollhouse login --device`` against a real server."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import TOLLHOUSE, Server
from tests.e2e.device import HUB, add_device_clients, answer, enter_code, poll, start


@pytest.fixture(scope="module")
def idp(server: Server) -> Iterator[Server]:
    add_device_clients(server.database_url)
    time.sleep(1.2)
    yield server


def cli(idp: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TOLLHOUSE), *args, "--data-dir", str(idp.data_dir), "--database", idp.database_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_list_shows_pending_requests_without_codes(idp: Server) -> None:
    with idp.client() as http:
        body = start(http, headers={"User-Agent": "rtu-7"}).json()
    listed = cli(idp, "device", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    mine = [r for r in rows if r["user_agent"] == "rtu-7"]
    assert mine and mine[0]["client_id"] == HUB and mine[0]["ip"] == "127.0.0.1"
    assert body["user_code"] not in listed.stdout and body["device_code"] not in listed.stdout
    table = cli(idp, "device", "list")
    assert "rtu-7" in table.stdout and body["user_code"] not in table.stdout


def test_deny_by_user_code(idp: Server) -> None:
    with idp.client() as http:
        body = start(http).json()
        denied = cli(idp, "device", "deny", body["user_code"].lower())
        assert denied.returncode == 0, denied.stderr
        assert poll(http, body["device_code"]).json()["error"] == "access_denied"
    again = cli(idp, "device", "deny", body["user_code"])
    assert again.returncode == 1 and "no pending device request" in again.stderr


def _approve_when_shown(idp: Server, process: subprocess.Popen[str], seen: list[str]) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        seen.append(line)
        code = line.strip()
        if len(code) == 9 and code[4] == "-":
            with idp.client() as browser:
                answer(
                    browser,
                    enter_code(browser, code),
                    username=idp.seed.username,
                    password=idp.seed.password,
                )


def test_login_device_prints_the_code_polls_and_writes_tokens(idp: Server, tmp_path: Path) -> None:
    output = tmp_path / "tokens.json"
    with subprocess.Popen(
        [
            str(TOLLHOUSE),
            "login",
            "--device",
            "--issuer",
            idp.base_url,
            "--client-id",
            HUB,
            "--scope",
            "openid read_sensors",
            "--output",
            str(output),
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    ) as process:
        seen: list[str] = []
        reader = threading.Thread(target=_approve_when_shown, args=(idp, process, seen))
        reader.start()
        assert process.wait(60) == 0, "".join(seen)
        reader.join(10)
    assert "/device" in "".join(seen)
    assert output.stat().st_mode & 0o777 == 0o600
    tokens = json.loads(output.read_text())
    assert {"access_token", "refresh_token", "id_token"} <= tokens.keys()


def test_login_refuses_a_plain_http_issuer_off_loopback() -> None:
    done = subprocess.run(
        [str(TOLLHOUSE), "login", "--device", "--issuer", "http://idp.example", "--client-id", "x"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1 and "https" in done.stderr
