"""Fixtures shared by the tests of bench/."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.bench.scripts import BENCH, load


@pytest.fixture
def bench_run(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``bench/run.py`` as a module (its ``idp`` helpers importable)."""
    return load(BENCH / "run.py", "bench_run_under_test", monkeypatch)
