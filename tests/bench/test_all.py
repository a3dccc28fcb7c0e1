"""``bench/all.py``, what ``make bench`` runs: every benchmark once, in order, each
writing its section in full mode and nothing in short mode; the first failing step
stops the run and says so."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.bench.scripts import BENCH, load

TOOLS = {"all.py", "servers.py", "seed_state.py"}
"""Scripts in bench/ that are not steps: this driver, and tools run by hand or by a step."""


@pytest.fixture
def bench_all(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load(BENCH / "all.py", "bench_all_under_test", monkeypatch)


def test_a_full_run_runs_every_benchmark_once_and_each_writes(bench_all: ModuleType) -> None:
    steps = bench_all.plan({})
    assert [step.name() for step in steps] == [
        "validate.py",
        "run.py --mode full --write",
        "sign_in.py --mode full --write",
        "state.py compare --mode full --write",
        "state.py feed --mode full --write",
        "state.py soak --mode full --write --duration 3600",
    ]
    scripts = {path.name for path in BENCH.glob("*.py")}
    assert {step.script for step in steps} == scripts - TOOLS


def test_the_soak_length_is_a_knob(bench_all: ModuleType) -> None:
    assert bench_all.plan({"BENCH_SOAK_SECONDS": "600"})[-1].args[-2:] == ("--duration", "600")
    with pytest.raises(SystemExit, match="BENCH_SOAK_SECONDS"):
        bench_all.plan({"BENCH_SOAK_SECONDS": "an hour"})


@pytest.mark.parametrize("env", [{"BENCH_MODE": "short"}, {"CI": "true"}])
def test_a_short_run_writes_nothing(bench_all: ModuleType, env: dict[str, str]) -> None:
    steps = bench_all.plan(env)
    assert [step.script for step in steps] == [step.script for step in bench_all.plan({})]
    for step in steps:
        assert "--write" not in step.args
        assert "full" not in step.args
    assert steps[0].args == ("--quick", "--no-write")


def test_the_first_failing_step_stops_the_run_and_says_so(
    bench_all: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    ran = tmp_path / "ran"
    scripts = {
        "ok.py": f"open({str(ran)!r}, 'a').write('ok ')",
        "bad.py": f"open({str(ran)!r}, 'a').write('bad '); raise SystemExit(3)",
        "never.py": f"open({str(ran)!r}, 'a').write('never ')",
    }
    for name, body in scripts.items():
        (tmp_path / name).write_text(body + "\n")
    # An absolute script path replaces bench/ in Step.command().
    steps = [bench_all.Step(str(tmp_path / name)) for name in scripts]
    monkeypatch.setattr(bench_all, "plan", lambda env: steps)
    monkeypatch.setenv("BENCH_MODE", "short")  # no check for PostgreSQL, npm and the rest
    assert bench_all.main([]) == 3
    assert ran.read_text() == "ok bad "
    out = capfd.readouterr().out
    assert "FAILED at step 2/3" in out and "exit status 3" in out
    assert "make bench: short mode, total 0 h 00 min" in out
