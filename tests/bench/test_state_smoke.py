"""``bench/seed_state.py`` loads what it promises into a migrated SQLite file (issue
22, goal 3). ``bench/state.py`` itself is left to ``make bench``: two servers, their
seeding through the CLI and browser-minted codes take minutes even in short mode."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCALE = 0.001


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLHOUSE_")}
    env.update(TOLLHOUSE_DATA_DIR=str(tmp_path), TOLLHOUSE_DATABASE=f"sqlite:///{tmp_path}/t.db")
    return env


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_seed_state_fills_a_migrated_sqlite_file_at_the_given_scale(tmp_path: Path) -> None:
    env = _env(tmp_path)
    _run([str(Path(sys.executable).parent / "tollhouse"), "migrate"], env)
    out = _run(
        [
            sys.executable,
            "bench/seed_state.py",
            "--database",
            env["TOLLHOUSE_DATABASE"],
            "--scale",
            str(SCALE),
        ],
        env,
    )
    assert "access_tokens" in out and "MiB" in out
    now = int(time.time())
    db = sqlite3.connect(tmp_path / "t.db")
    try:
        count = {
            table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("users", "clients", "apis", "api_scopes", "access_tokens", "revocations")
        }
        assert count == {
            "users": 1000,
            "clients": 100,
            "apis": 10,
            "api_scopes": 10,
            "access_tokens": 10_000,
            "revocations": 1000,
        }
        live = db.execute("SELECT count(*) FROM access_tokens WHERE expires_at > ?", (now,))
        assert 50 <= live.fetchone()[0] <= 150  # about 1 % still live, the rest purgeable
        live = db.execute("SELECT count(*) FROM revocations WHERE expires_at > ?", (now,))
        assert live.fetchone()[0] == 900
        oldest = db.execute("SELECT min(issued_at) FROM access_tokens").fetchone()[0]
        assert now - oldest > 300 * 24 * 3600  # spread over the past year
        hashes = db.execute("SELECT DISTINCT password_hash FROM users").fetchall()
        assert len(hashes) == 1 and hashes[0][0].startswith("$argon2id$")
        # seq order is revoked_at order, so the feed pages through them in time order
        order = db.execute("SELECT revoked_at FROM revocations ORDER BY seq").fetchall()
        assert order == sorted(order)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
