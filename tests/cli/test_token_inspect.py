"""``tollhouse token inspect JWT`` on tokens minted by a real running server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cli.cli_runner import Cli
from tests.e2e.conftest import SENSORS, Seed, free_port, seed_database, start_server, stop


@dataclass
class Running:
    base_url: str
    data_dir: Path
    seed: Seed

    def cli(self) -> Cli:
        return Cli(self.data_dir)

    def machine_token(self) -> str:
        response = httpx.post(
            f"{self.base_url}/token",
            data={"grant_type": "client_credentials", "scope": "read_sensors"},
            auth=(self.seed.machine_id, self.seed.confidential_secret),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    data_dir = tmp_path_factory.mktemp("inspect")
    seed = Seed()
    asyncio.run(seed_database(f"sqlite:///{data_dir / 'tollhouse.db'}", seed))
    port = free_port()
    process, _ = start_server(data_dir, port)
    try:
        yield Running(f"http://127.0.0.1:{port}", data_dir, seed)
    finally:
        stop(process)


def test_valid_token_exits_0_with_one_line_per_check(running: Running) -> None:
    token = running.machine_token()
    result = running.cli()("token", "inspect", "--issuer", running.base_url, token)
    assert result.code == 0, result
    lines = result.stdout.splitlines()
    for name in ("signature", "kid", "alg", "typ", "exp", "iat", "iss", "aud", "revoked"):
        assert any(line.startswith(f"✓ {name} ") for line in lines), (name, result.stdout)
    assert any(line.startswith("· client ") and "Meter Reader" in line for line in lines)
    assert "valid here: yes" in lines
    signature = token.split(".")[2]
    assert signature not in result.stdout + result.stderr
    assert token not in result.stdout + result.stderr


def test_json_output_names_every_check(running: Running) -> None:
    result = running.cli()("token", "inspect", "--json", "--issuer", running.base_url, "-")
    # "-" reads the token from stdin (keeps it out of the shell history).
    assert result.code == 1  # empty stdin: not a token
    token = running.machine_token()
    result = running.cli()(
        "token", "inspect", "--json", "--issuer", running.base_url, "-", stdin=token
    )
    assert result.code == 0, result
    report = result.json()
    assert report["valid"] is True
    assert report["claims"]["aud"] == SENSORS
    assert report["header"]["typ"] == "at+jwt"
    assert {c["status"] for c in report["checks"]} <= {"pass", "info"}


def test_revoked_token_exits_1_naming_the_revocation(running: Running) -> None:
    token = running.machine_token()
    revoked = httpx.post(
        f"{running.base_url}/revoke",
        data={"token": token},
        auth=(running.seed.machine_id, running.seed.confidential_secret),
        timeout=10,
    )
    assert revoked.status_code == 200
    result = running.cli()("token", "inspect", "--issuer", running.base_url, token)
    result.assert_failure("the token is not valid here (revoked)")
    assert any(line.startswith("✗ revoked ") for line in result.stdout.splitlines())


def test_without_issuer_flag_the_running_servers_issuer_is_expected(running: Running) -> None:
    result = running.cli()("token", "inspect", running.machine_token())
    assert result.code == 0, result
    assert "✓ iss" in result.stdout and running.base_url in result.stdout


def test_token_checked_against_another_issuer_spells_out_the_difference(
    running: Running,
) -> None:
    result = running.cli()(
        "token", "inspect", "--issuer", "https://localhost:8443", running.machine_token()
    )
    result.assert_failure("(iss)")
    assert "scheme differs (http in the token, https here)" in result.stderr


def test_altered_token_fails_the_signature(running: Running) -> None:
    header, payload, signature = running.machine_token().split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    result = running.cli()(
        "token", "inspect", "--issuer", running.base_url, f"{header}.{payload}.{flipped}"
    )
    result.assert_failure("(signature)")


def test_token_for_another_audience_is_refused_with_audience(running: Running) -> None:
    result = running.cli()(
        "token",
        "inspect",
        "--issuer",
        running.base_url,
        "--audience",
        "https://billing.example.test",
        running.machine_token(),
    )
    result.assert_failure("(aud)")
    assert f"aud is {SENSORS}, not https://billing.example.test" in result.stderr


def test_opaque_value_is_explained_as_not_a_jwt(running: Running) -> None:
    result = running.cli()("token", "inspect", "not-a-jwt")
    result.assert_failure("three dot-separated segments")
