"""The data directory and the SQLite database are their owner's only: a real server
started on a fresh data directory creates them 0700 / 0600 (as ``master.key``), and
one started on an install that others could read tightens it at start."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx

from tests.e2e.conftest import free_port, start_server, stop


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def serve_once(data_dir: Path) -> str:
    """Start a server on ``data_dir``, make it write, stop it; its log."""
    port = free_port()
    process, log_path = start_server(data_dir, port)
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/jwks.json", timeout=10)
        assert response.status_code == 200
        assert mode(data_dir / "tollhouse.db-wal") == 0o600  # while it runs
    finally:
        stop(process)
    return log_path.read_text(errors="replace")


def test_a_fresh_data_dir_and_database_are_the_owners_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    data_dir.mkdir(mode=0o700)  # the log file goes here before the server starts
    serve_once(data_dir)
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "tollhouse.db") == 0o600
    assert mode(data_dir / "master.key") == 0o600


def test_an_existing_install_readable_by_others_is_tightened_at_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "old"
    data_dir.mkdir()
    serve_once(data_dir)
    for path in (data_dir / "tollhouse.db", data_dir / "tollhouse.db-wal"):
        if path.exists():
            path.chmod(0o644)
    data_dir.chmod(0o755)

    log = serve_once(data_dir)

    assert mode(data_dir) == 0o700
    assert mode(data_dir / "tollhouse.db") == 0o600
    assert "tightened" in log and "tollhouse.db" in log
