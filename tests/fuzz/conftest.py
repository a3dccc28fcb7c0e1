"""A real server for the fuzz runs, and a snapshot of the stored state.

Rate limits are off (the fuzzers send hundreds of requests a second on purpose) and the
background purge is parked, so row counts change only because of the requests sent.
"""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Seed, free_port, seed_database, start_server, stop

FUZZ_ENV = {
    "TOLLHOUSE_RATE_LIMIT_TOKEN": "off",
    "TOLLHOUSE_LOGIN_LOCKOUT_PER_ADDRESS": "0",
    "TOLLHOUSE_LOGIN_LOCKOUT_PER_ACCOUNT": "0",
    "TOLLHOUSE_PURGE_INTERVAL": "86400",
    # Open registration: metadata validation is reached without an initial access token.
    "TOLLHOUSE_REGISTRATION": "open",
}

SNAPSHOT_TABLES = (
    "clients",
    "users",
    "apis",
    "api_scopes",
    "signing_keys",
    "authorization_codes",
    "consents",
    "sessions",
    "revocations",
    "token_families",
    "refresh_tokens",
    "access_tokens",
    "interactions",
    "initial_access_tokens",
    "registration_access_tokens",
)


@dataclass
class FuzzServer:
    base_url: str
    database: Path
    seed: Seed

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, follow_redirects=False, timeout=10)

    def basic(self, client_id: str, secret: str) -> str:
        return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()

    def snapshot(self, *, skip: tuple[str, ...] = ()) -> dict[str, int]:
        """Row count of every stored table (those that exist in this schema)."""
        uri = f"file:{self.database}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
            existing = {
                row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            return {
                table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in SNAPSHOT_TABLES
                if table in existing and table not in skip
            }


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    database = data_dir / "tollhouse.db"
    seed = Seed()
    asyncio.run(seed_database(f"sqlite:///{database}", seed))
    port = free_port()
    process, _ = start_server(data_dir, port, env=FUZZ_ENV)
    try:
        yield FuzzServer(f"http://127.0.0.1:{port}", database, seed)
    finally:
        stop(process)
