"""``bench/run.py`` in its short mode runs to completion, so ``make bench`` cannot rot.

It starts a real ``tollhouse serve`` on 127.0.0.1, drives every scenario with Debian's
``wrk`` for a second each and prints req/s, p50/p90/p99 and errors. The peer IdP is
left out here (its npm install would double the time); ``make bench`` runs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("discovery", "jwks", "token_cc", "introspect", "code", "code_es256", "refresh")


@pytest.mark.slow
def test_short_mode_prints_every_scenario_with_latency_and_errors() -> None:
    if shutil.which("wrk") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("wrk is not installed (.ci/run installs Debian's wrk)")
        pytest.skip("wrk is not installed (apt-get install wrk)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLHOUSE_")}
    env["BENCH_MODE"] = "short"
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--seconds", "1", "--max-minted", "150", "--no-peer"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in SCENARIOS:
        line = re.search(
            rf"^\s+{name}\s+[\d,]+ req/s\s+p50 .* p90 .* p99 .* errors (\d+)", done.stdout, re.M
        )
        assert line is not None, f"no {name} line in:\n{done.stdout}"
    for name in ("discovery", "jwks", "token_cc", "introspect"):
        line = re.search(rf"^\s+{name}\s+.* errors (\d+) \(non-2xx (\d+)", done.stdout, re.M)
        assert line is not None and line.group(2) == "0", f"{name} got refusals:\n{done.stdout}"
    assert "short mode" in done.stdout
