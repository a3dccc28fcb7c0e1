"""``bench/state.py --write``: each command (compare, feed, soak) replaces its own part
of the script's RESULTS.md section and keeps the others, so ``make bench`` can write
each as it finishes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def state(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_state_under_test", BENCH / "state.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_state_under_test", module)
    spec.loader.exec_module(module)
    return module


def test_each_command_replaces_only_its_part(state: ModuleType) -> None:
    hand_written = f"# Results\n\nbefore\n{state.BEGIN}\nnotes by hand\n{state.END}\nafter\n"
    text = state.with_part(hand_written, "soak", "soak one\n")
    assert "notes by hand" not in text
    text = state.with_part(text, "compare", "compare one\n")
    text = state.with_part(text, "soak", "soak two\n")
    assert text.startswith("# Results\n\nbefore\n") and text.endswith(f"{state.END}\nafter\n")
    assert "compare one" in text and "soak two" in text and "soak one" not in text
    assert text.index("compare one") < text.index("_Not run yet._") < text.index("soak two")
    assert text.count(state.BEGIN) == 1 and text.count(state.part_markers("soak")[0]) == 1


def test_a_part_missing_from_an_older_section_is_added_inside_it(state: ModuleType) -> None:
    begin, end = state.part_markers("compare")
    older = f"{state.BEGIN}\n{begin}\ncompare\n{end}\n{state.END}\ntail\n"
    text = state.with_part(older, "feed", "feed one\n")
    assert "compare" in text and text.endswith(f"{state.END}\ntail\n")
    assert text.index(state.BEGIN) < text.index("feed one") < text.index(state.END)


def test_the_soak_verdict_is_rows_at_the_end_against_the_start(state: ModuleType) -> None:
    soak = sys.modules["idp.soak"]
    tables = {"access_tokens": {"rows": 100, "bytes": 0}, "revocations": {"rows": 50, "bytes": 0}}
    grown = {"access_tokens": {"rows": 130, "bytes": 0}, "revocations": {"rows": 20, "bytes": 0}}
    lines = state.flat_lines([soak.Sample(0.0, tables), soak.Sample(60.0, grown)])
    assert lines == [
        "- access_tokens: 100 → 130 rows (goal: flat, **missed**: +30 rows).",
        "- revocations: 50 → 20 rows (goal: flat, met).",
    ]
