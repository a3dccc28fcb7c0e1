"""``tollhouse doctor`` (and the start-up warnings of ``serve``) against real state:
a real SQLite file, a real master key file and a real running server."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from tests.cli.cli_runner import TOLLHOUSE, Cli
from tests.e2e.conftest import Seed, free_port, seed_database, start_server, stop
from tollhouse.models import AuthMethod, Client, GrantType
from tollhouse.security.master_key import load_master_key
from tollhouse.storage.ports import Storage
from tollhouse.storage.sql.engine import async_url


@dataclass
class Running:
    base_url: str
    port: int
    data_dir: Path
    log_path: Path


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    data_dir = tmp_path_factory.mktemp("doctor")
    asyncio.run(seed_database(f"sqlite:///{data_dir / 'tollhouse.db'}", Seed()))
    port = free_port()
    process, log_path = start_server(data_dir, port, env={"TOLLHOUSE_REFRESH_GRACE_PERIOD": "5"})
    try:
        yield Running(f"http://127.0.0.1:{port}", port, data_dir, log_path)
    finally:
        stop(process)


def findings(result_json: dict[str, object], level: str) -> list[dict[str, str]]:
    found = result_json["findings"]
    assert isinstance(found, list)
    return [f for f in found if f["level"] == level]


def test_serve_prints_one_warning_line_per_unsafe_setting_at_start(running: Running) -> None:
    log = running.log_path.read_text()
    lines = [line for line in log.splitlines() if line.startswith("warning [config]")]
    assert any("grace period is 5 s" in line for line in lines), log
    assert any("plain HTTP development mode" in line for line in lines), log
    assert all(" — " in line for line in lines)  # each carries its fix


def test_doctor_on_a_running_installation_checks_it_against_the_server(running: Running) -> None:
    cli = Cli(running.data_dir)
    result = cli(
        "doctor",
        "--json",
        "--insecure-http",
        "--port",
        str(running.port),
        "--url",
        running.base_url,
    )
    assert result.code == 0, result
    report = result.json()
    assert findings(report, "error") == []
    oks = [f["what"] for f in findings(report, "ok")]
    assert any("migrated to head" in w for w in oks)
    assert any("opens with the master key" in w for w in oks)
    assert any("publishes exactly the keys table" in w for w in oks)
    assert any(f"discovery names issuer {running.base_url}" in w for w in oks)
    checks = {f["check"] for f in report["findings"]}
    assert {"config", "database", "clock", "master_key", "keys", "tls", "redirect_uris"} <= checks
    warned = [f["what"] for f in findings(report, "warning")]
    assert any("demo data present" in w for w in warned)  # the seed reuses grid-monitor
    assert report["exit_code"] == 0


def test_doctor_without_flags_checks_the_issuer_the_running_server_recorded(
    running: Running,
) -> None:
    result = Cli(running.data_dir)("doctor", "--json", "--url", running.base_url)
    assert result.code == 0, result
    oks = [f["what"] for f in findings(result.json(), "ok")]
    assert any(f"issuer {running.base_url}" in w for w in oks), oks
    assert any(f"discovery names issuer {running.base_url}" in w for w in oks), oks


def test_doctor_finds_a_server_running_under_another_issuer(running: Running) -> None:
    # A flag overrides what the running server recorded.
    result = Cli(running.data_dir)(
        "doctor", "--json", "--url", running.base_url, "--issuer", "https://localhost:8443"
    )
    assert result.code == 1
    errors = [f["what"] for f in findings(result.json(), "error")]
    assert any("discovery names issuer" in e and "https://localhost:8443" in e for e in errors)
    result.assert_failure("doctor found 1 error")


def test_doctor_finds_keys_sealed_under_another_master_key(running: Running) -> None:
    cli = Cli(running.data_dir)
    cli.env["TOLLHOUSE_MASTER_KEY"] = base64.b64encode(b"w" * 32).decode()
    result = cli("doctor", "--json", "--insecure-http", "--port", str(running.port))
    assert result.code == 1
    report = result.json()
    assert any(
        "cannot be decrypted with this master key" in f["what"] for f in findings(report, "error")
    )
    assert any("the file is unused" in f["what"] for f in findings(report, "warning"))


def test_doctor_probes_an_https_server_through_its_self_signed_certificate(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "https"
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [TOLLHOUSE, "serve", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**Cli(data_dir).env},
        )
    try:
        certificate = data_dir / "tls" / "localhost.crt"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            try:
                trust = ssl.create_default_context(cafile=str(certificate))
                if httpx.get(f"https://localhost:{port}/healthz", verify=trust).is_success:
                    break
            except (httpx.HTTPError, OSError, ssl.SSLError):
                time.sleep(0.1)
        result = Cli(data_dir)(
            "doctor", "--json", "--port", str(port), "--url", f"https://localhost:{port}"
        )
    finally:
        stop(process)
    assert result.code == 0, result
    oks = [f["what"] for f in findings(result.json(), "ok")]
    assert any("self-signed: fine on this machine" in w for w in oks), oks
    assert any(f"discovery names issuer https://localhost:{port}" in w for w in oks), oks
    assert any("publishes exactly the keys table" in w for w in oks), oks


def test_doctor_on_an_empty_data_dir_names_the_missing_database(cli: Cli) -> None:
    result = cli("doctor")
    result.assert_failure("doctor found 1 error")
    assert "✗ database" in result.stdout
    assert "fix: run `tollhouse migrate`" in result.stdout
    assert not cli.data_dir.exists() or not any(cli.data_dir.iterdir())  # read-only


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_doctor_refuses_a_master_key_file_readable_by_others(cli: Cli) -> None:
    cli("migrate").assert_ok()
    load_master_key(None, cli.data_dir)
    (cli.data_dir / "master.key").chmod(0o644)
    result = cli("doctor", "--json")
    assert result.code == 1
    (error,) = findings(result.json(), "error")
    assert error["check"] == "master_key"
    assert error["fix"] == f"chmod 600 {cli.data_dir / 'master.key'}"


def test_doctor_flags_a_plain_http_redirect_uri_off_loopback(cli: Cli) -> None:
    cli("migrate").assert_ok()

    async def add(storage: Storage) -> None:
        await storage.add_client(
            Client(
                "legacy",
                "Legacy",
                ("http://app.example.test/cb",),
                (GrantType.AUTHORIZATION_CODE,),
                AuthMethod.NONE,
                1_800_000_000,
            )
        )

    cli.query(add)
    result = cli("doctor", "--json")
    assert result.code == 1
    (error,) = findings(result.json(), "error")
    assert error["check"] == "redirect_uris"
    assert "client legacy: http://app.example.test/cb is plain http" in error["what"]


def test_doctor_reports_an_unreachable_redis(cli: Cli) -> None:
    cli("migrate").assert_ok()
    result = cli("doctor", "--json", "--redis", "redis://127.0.0.1:1/0")
    assert result.code == 1
    (error,) = findings(result.json(), "error")
    assert error["check"] == "redis" and "cannot be reached" in error["what"]


POSTGRES = os.environ.get("TOLLHOUSE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A throw-away PostgreSQL database (skipped if the server is absent, unless CI)."""
    name = f"doctor_{secrets.token_hex(4)}"

    async def execute(statement: str) -> None:
        engine = create_async_engine(async_url(POSTGRES), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    try:
        asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    except (OSError, SQLAlchemyError) as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES}: {type(exc).__name__}")
    url = make_url(async_url(POSTGRES)).set(database=name)
    try:
        yield url.set(drivername="postgresql").render_as_string(hide_password=False)
    finally:
        asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_doctor_compares_the_clock_with_the_postgresql_server(
    cli: Cli, postgres_database: str
) -> None:
    before = cli("doctor", "--json", "--database", postgres_database)
    assert "the database has no schema" in before.stdout
    cli("migrate", "--database", postgres_database).assert_ok()
    result = cli("doctor", "--json", "--database", postgres_database)
    report = result.json()
    (clock,) = [f for f in report["findings"] if f["check"] == "clock"]
    assert clock["level"] == "ok"
    assert "the database server agree within" in clock["what"]
    assert any("migrated to head" in f["what"] for f in findings(report, "ok"))


def test_doctor_warns_when_the_purged_tables_are_not_vacuumed(
    cli: Cli, postgres_database: str
) -> None:
    cli("migrate", "--database", postgres_database).assert_ok()
    server_on = asyncio.run(scalar(postgres_database, "SHOW autovacuum")) == "on"
    (vacuum,) = vacuum_findings(cli, postgres_database)
    assert vacuum["level"] == ("ok" if server_on else "warning")
    asyncio.run(
        scalar(postgres_database, "ALTER TABLE access_tokens SET (autovacuum_enabled = false)")
    )
    (vacuum,) = vacuum_findings(cli, postgres_database)
    assert vacuum["level"] == "warning"
    assert "grow on disk" in vacuum["what"]
    assert server_on is ("access_tokens" in vacuum["what"])


def vacuum_findings(cli: Cli, database: str) -> list[dict[str, str]]:
    report = cli("doctor", "--json", "--database", database).json()
    return [f for f in report["findings"] if f["check"] == "vacuum"]


async def scalar(database: str, statement: str) -> object:
    engine = create_async_engine(async_url(database), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            result = await connection.execute(text(statement))
            return result.scalar() if result.returns_rows else None
    finally:
        await engine.dispose()


def test_doctor_reports_settings_that_cannot_start_as_an_error(cli: Cli) -> None:
    cli.env["TOLLHOUSE_ACCESS_TOKEN_TTL"] = "7200"
    result = cli("doctor", "--json")
    assert result.code == 1
    (error,) = findings(result.json(), "error")
    assert "the server cannot start: invalid access_token_ttl" in error["what"]


def test_doctor_reports_clients_whose_scopes_no_api_defines_any_more(cli: Cli) -> None:
    api = "https://inventory.test"
    cli("apis", "create", "--identifier", api, "--scope", "read_inventory").assert_ok()
    created = cli(
        "clients", "create", "--name", "stock", "--grant-type", "client_credentials",
        "--scope", "read_inventory", "--client-id", "STOCK_01", "--json",
    ).assert_ok()  # fmt: skip
    assert created.json()["scope"] == "read_inventory"

    deleted = cli("apis", "delete", api).assert_ok()
    result = cli("doctor", "--json")

    assert "clients STOCK_01 are registered with its scopes" in deleted.stderr
    (scopes,) = [f for f in result.json()["findings"] if f["check"] == "scopes"]
    assert scopes["level"] == "warning"
    assert "client STOCK_01 is registered with read_inventory" in scopes["what"]
    assert "tollhouse apis create --identifier URI --scope read_inventory" in scopes["fix"]
