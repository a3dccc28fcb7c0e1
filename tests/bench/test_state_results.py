"""``bench/state.py --write``: each command (compare, feed, soak) replaces its own part
of the script's RESULTS.md section and keeps the others, so ``make bench`` can write
each as it finishes."""

from __future__ import annotations

import sys
from types import ModuleType

import pytest

from tests.bench.scripts import BENCH, load


@pytest.fixture
def state(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load(BENCH / "state.py", "bench_state_under_test", monkeypatch)


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


def test_the_soak_verdict_is_rows_and_bytes_at_the_end_against_the_start(
    state: ModuleType,
) -> None:
    soak = sys.modules["idp.soak"]
    mib = 2**20
    start = {
        "access_tokens": {"rows": 100, "bytes": 8 * mib},
        "revocations": {"rows": 50, "bytes": mib},
    }
    half = {
        "access_tokens": {"rows": 90, "bytes": 8 * mib},
        "revocations": {"rows": 30, "bytes": mib},
    }
    end = {
        "access_tokens": {"rows": 80, "bytes": 10 * mib},
        "revocations": {"rows": 60, "bytes": mib},
    }
    samples = [soak.Sample(0.0, start), soak.Sample(30.0, half), soak.Sample(60.0, end)]
    assert state.flat_lines(samples) == [
        "- access_tokens rows: 100 → 80 (goal: flat, met).",
        "- access_tokens bytes: 8.0 MiB → 10.0 MiB (goal: flat, **missed**: +25.0%).",
        "  access_tokens bytes over the second half: +25.0%.",
        "- revocations rows: 50 → 60 (goal: flat, **missed**: +20.0%).",
        "- revocations bytes: 1.0 MiB → 1.0 MiB (goal: flat, met).",
        "  revocations bytes over the second half: +0.0%.",
    ]


def test_a_feed_page_has_no_ratio_against_the_empty_states_empty_page(
    state: ModuleType,
) -> None:
    compare = sys.modules["idp.compare_state"]
    result = sys.modules["idp.wrk"].WrkResult
    sides = [compare.Side(label, server=None, seeded=None) for label in ("empty", "full")]
    for side, p99 in zip(sides, (40.0, 600.0), strict=True):
        for name in ("revocations_poll", "revocations_page"):
            side.results[name] = [result(100, 10.0, 10.0, 1.0, 2.0, p99)]
    found = compare.summary(
        "SQLite", *sides, {"scale": 1, "seed_seconds": 1, "seconds": 10, "rounds": 1}
    )
    ratios = {row["scenario"]: row["ratio"] for row in found["rows"]}
    assert ratios == {"revocations_poll": 15.0, "revocations_page": None}
    table = state.compare_markdown([found])
    assert "| revocations_page | 10 | 10 | 40.0 | 600.0 | — | — |" in table
    assert "| revocations_poll | 10 | 10 | 40.0 | 600.0 | 15.0 | **missed** |" in table
