"""The Python peer of ``bench/run.py``: django-oauth-toolkit's Django project and the
way the bench drives it.

The project's settings are plain Python over environment variables, so they load here
without Django. Installing the toolkit needs the package index and a minute, so the
test that installs, serves and asks it for a token and an introspection runs only with
``BENCH_PYTHON_PEER=1``; ``bench/run.py`` itself makes the same checks before every
full run and stops if they fail.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.bench.scripts import BENCH, load

PROJECT = BENCH / "idp" / "dot"


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    for key in [k for k in os.environ if k.startswith("BENCH_DOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("BENCH_DOT_SECRET_KEY", "a key for the test")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load(PROJECT / "settings.py", "benchdot_settings_under_test", monkeypatch)


def test_settings_are_production_settings_on_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, BENCH_DOT_DB="sqlite", BENCH_DOT_DB_NAME="/tmp/x.db")
    assert settings.DEBUG is False
    assert settings.SECRET_KEY == "a key for the test"
    assert set(settings.ALLOWED_HOSTS) <= {"127.0.0.1", "localhost"}
    database = settings.DATABASES["default"]
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"] == "/tmp/x.db"
    assert "journal_mode=WAL" in database["OPTIONS"]["init_command"]
    assert database["CONN_MAX_AGE"] > 0
    # The toolkit's defaults stay: client secrets hashed, opaque tokens in the database.
    provider = settings.OAUTH2_PROVIDER
    assert set(provider) == {"SCOPES"}
    assert {"bench.read", "introspection"} <= set(provider["SCOPES"])
    assert "oauth2_provider" in settings.INSTALLED_APPS


def test_settings_reach_postgresql_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(
        monkeypatch,
        BENCH_DOT_DB="postgres",
        BENCH_DOT_DB_NAME="bench_dot_x",
        BENCH_DOT_DB_HOST="127.0.0.1",
        BENCH_DOT_DB_PORT="5432",
        BENCH_DOT_DB_USER="postgres",
    )
    database = settings.DATABASES["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["NAME"], database["HOST"], database["PORT"], database["USER"]) == (
        "bench_dot_x",
        "127.0.0.1",
        "5432",
        "postgres",
    )
    assert database["CONN_MAX_AGE"] > 0


def test_every_requirement_is_pinned(bench_run: ModuleType) -> None:
    dot_peer = sys.modules["idp.dot_peer"]
    lines = [
        text.strip()
        for text in (PROJECT / "requirements.txt").read_text().splitlines()
        if text.strip() and not text.lstrip().startswith("#")
    ]
    assert lines
    for text in lines:
        _, _, version = text.partition("==")
        assert version and version[0].isdigit(), f"not pinned: {text}"
    assert dot_peer.pinned("django-oauth-toolkit") == "3.4.1"
    assert dot_peer.pinned("psycopg") == dot_peer.pinned("psycopg-binary")
    with pytest.raises(KeyError):
        dot_peer.pinned("flask")


def test_short_mode_skips_the_python_peer_without_installing(
    bench_run: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_install(*_: object, **__: object) -> Path:
        raise AssertionError("short mode must not install django-oauth-toolkit")

    monkeypatch.setattr(sys.modules["idp.dot_peer"], "install", no_install)
    short = bench_run.Mode("short", 2.0, 1, ("sqlite",), (1,), False, 400)
    assert bench_run.run_python_peer(short) is None


def _sqlite_run(bench_run: ModuleType) -> object:
    """A made-up run: two rounds per scenario on SQLite."""
    wrk = sys.modules["idp.wrk"]

    def result(rps: float) -> object:
        return wrk.WrkResult(int(rps * 10), 10.0, rps, 1.0, 2.0, 3.0)

    nan = float("nan")
    pairs = {
        "token_cc": bench_run.Pair([result(900), result(1100)], [result(3), result(2)]),
        "introspect": bench_run.Pair([result(1000), result(1000)], [result(40), result(50)]),
        # A round where every answer came after wrk's timeout: no rate to divide by.
        "token_cc_unhashed": bench_run.Pair([result(900), result(900)], [result(0), result(4)]),
    }
    return bench_run.PythonPeerRun(
        "SQLite",
        pairs,
        {"token_cc": [12, 14], "introspect": [0, 0], "token_cc_unhashed": [50, 3]},
        {
            "token_cc": ([0.2, 0.2], [250.0, 240.0]),
            "introspect": ([0.1, 0.1], [5.0, 5.0]),
            "token_cc_unhashed": ([0.2, 0.2], [nan, 3.0]),
        },
        {"tollhouse": [120.0], "peer": [62.0]},
    )


def test_the_table_names_each_backend_and_scenario(bench_run: ModuleType) -> None:
    run = _sqlite_run(bench_run)
    mode = bench_run.Mode("full", 10.0, 2, ("sqlite",), (1,), True, 400)
    table = bench_run.python_peer_markdown(mode, [run])
    assert "django-oauth-toolkit 3.4.1" in table
    # ratio = median of the per-round ratios: 900/3 = 300 and 1100/2 = 550.
    times = "\N{MULTIPLICATION SIGN}"
    assert (
        f"| SQLite | token_cc | 1,000 | 2.5 | 425.00{times} | 3.0 | 3.0 | 13 | 0.20 | 245.00 |"
        in table
    )
    assert f"| SQLite | introspect | 1,000 | 45.0 | 22.50{times} |" in table
    assert "| SQLite | token_cc_unhashed | 900 | 2.0 | — | 3.0 | 3.0 | 26 | 0.20 | 3.00 |" in table
    assert "opaque" in table


def test_a_full_run_puts_the_python_peer_inside_the_generated_section(
    bench_run: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[str] = []
    monkeypatch.setattr(bench_run.signal, "signal", lambda *_: None)
    monkeypatch.setattr(bench_run.wrk, "ensure_wrk", lambda: "wrk")
    monkeypatch.setattr(bench_run, "run_matrix", lambda mode: [])
    monkeypatch.setattr(bench_run, "run_peer", lambda mode: None)
    monkeypatch.setattr(bench_run, "run_access_log", lambda mode: None)
    monkeypatch.setattr(bench_run, "run_python_peer", lambda mode: [_sqlite_run(bench_run)])
    monkeypatch.setattr(bench_run, "write_results", written.append)
    assert bench_run.main(["--mode", "full"]) == 0
    (section,) = written
    assert section.startswith(bench_run.BEGIN)
    assert section.endswith(bench_run.END)
    assert "### Tollhouse / django-oauth-toolkit 3.4.1" in section
    assert "| SQLite | token_cc | 1,000 |" in section
