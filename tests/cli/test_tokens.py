"""``tollhouse tokens revoke`` uses the same revocation path as /revoke."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from tollhouse.models import AccessTokenRecord, AuthMethod, Client, User
from tollhouse.storage.sql.storage import open_storage

TOLLHOUSE = Path(sys.executable).parent / "tollhouse"


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TOLLHOUSE), *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TOLLHOUSE_TEST_FAST_HASH": "1"},
        check=False,
    )


async def seed(url: str) -> None:
    storage = await open_storage(url)
    try:
        now = int(time.time())
        await storage.add_client(
            Client(
                "c1", "C1", (), ("client_credentials",), AuthMethod.CLIENT_SECRET_BASIC, now, "h"
            )
        )
        await storage.add_user(User("u1", "alice", "h", now))
        await storage.record_access_token(AccessTokenRecord("jti-user", "c1", "u1", now + 600, now))
        await storage.record_access_token(
            AccessTokenRecord("jti-client", "c1", "c1", now + 600, now)
        )
        await storage.record_access_token(AccessTokenRecord("jti-one", "c1", "c1", now + 600, now))
        await storage.record_access_token(
            AccessTokenRecord("jti-expired", "c1", "c1", now - 3600, now - 4500)
        )
    finally:
        await storage.close()


async def revoked(url: str, *jtis: str) -> list[bool]:
    storage = await open_storage(url)
    try:
        now = int(time.time())
        return [await storage.is_revoked(j, now) for j in jtis]
    finally:
        await storage.close()


def test_tokens_revoke_by_jti_user_and_client(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tollhouse.db'}"
    asyncio.run(seed(url))
    result = cli(tmp_path, "tokens", "revoke", "--user", "alice")
    assert result.returncode == 0, result.stderr
    assert "revoked 1 access token" in result.stdout
    assert asyncio.run(revoked(url, "jti-user", "jti-client")) == [True, False]
    assert cli(tmp_path, "tokens", "revoke", "--client", "c1").returncode == 0
    assert asyncio.run(revoked(url, "jti-client")) == [True]


def test_revoke_by_jti_says_what_happened(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tollhouse.db'}"
    asyncio.run(seed(url))

    known = cli(tmp_path, "tokens", "revoke", "--jti", "jti-one")
    again = cli(tmp_path, "tokens", "revoke", "--jti", "jti-one")
    unknown = cli(tmp_path, "tokens", "revoke", "--jti", "doesnotexist")
    expired = cli(tmp_path, "tokens", "revoke", "--jti", "jti-expired")

    for result in (known, again, unknown, expired):
        assert result.returncode == 0, result.stderr
        assert len(result.stdout.splitlines()) == 1, result.stdout
    assert known.stdout.startswith("revoked access token jti-one of client c1")
    assert again.stdout.startswith("access token jti-one was already revoked")
    # A resource server may hold a token whose record is gone: listed all the same.
    assert unknown.stdout.startswith("no access token doesnotexist is on record here")
    assert "listed it as revoked anyway" in unknown.stdout
    assert "revoked 1" not in unknown.stdout
    assert "nothing to revoke" in expired.stdout
    assert asyncio.run(revoked(url, "jti-one", "doesnotexist", "jti-expired")) == [
        True,
        True,
        False,
    ]


def test_tokens_revoke_needs_exactly_one_target(tmp_path: Path) -> None:
    assert cli(tmp_path, "tokens", "revoke").returncode == 2
    assert cli(tmp_path, "tokens", "revoke", "--jti", "a", "--user", "b").returncode == 2


def test_unknown_user_or_client_fails_with_one_line(tmp_path: Path) -> None:
    result = cli(tmp_path, "tokens", "revoke", "--user", "nobody")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: no user nobody"
