"""``bench/run.py``'s report: the README's table shows what RESULTS.md shows."""

from __future__ import annotations

import sys
from types import ModuleType


def test_the_readme_shows_each_sides_measured_median_and_the_rounds_ratio(
    bench_run: ModuleType,
) -> None:
    result = sys.modules["idp.wrk"].WrkResult

    def runs(*rates: float) -> list[object]:
        return [result(int(r * 10), 10.0, r, 1.0, 2.0, 3.0) for r in rates]

    # Per-round ratios 2.0, 1.0, 1.5: median 1.5; the medians' quotient would be 1.25.
    pair = bench_run.Pair(ours=runs(6_000, 5_000, 4_500), peer=runs(3_000, 5_000, 3_000))
    (row,) = bench_run.peer_rows("peer 1.0", {"token_cc": pair})
    assert (row.ours_rps, row.peer_rps, row.ratio) == (5_000, 3_000, 1.5)
    table = bench_run.readme_table([row], [])
    assert "| 5,000 req/s, p99 3 ms | 3,000 req/s | 1.50× |" in table  # noqa: RUF001
