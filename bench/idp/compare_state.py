"""Empty state vs production-size state: the same scenarios against two servers, one
on a freshly migrated database and one on the same plus ``seed_state``'s bulk load,
alternating empty/full in every round so both meet the same machine noise.

Both servers run with the purge held off (``TOLLHOUSE_PURGE_INTERVAL``): the seeded
state carries a year of expired rows no deployed purger would have left, and deleting
them would load only one side; the purge under load is the soak's subject.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import seed_state
from idp import ours, state_db, wrk

CONNECTIONS = 50
NO_PURGE = "86400"
SCENARIOS = ("token_cc", "introspect", "code", "refresh", "revocations_poll", "revocations_page")
UNPAIRED = {"revocations_page"}
"""Scenarios whose empty side answers something else: a page of the feed is 1,000 live
entries on the seeded state and empty on the empty one, so it has no ratio."""
RATIO_GOAL = 1.2
WARM_UP_SECONDS = 3.0
_TWO_CORES = len(os.sched_getaffinity(0)) >= 2 and shutil.which("taskset") is not None
SERVER_CPUS, WRK_CPUS = ("0", "1") if _TWO_CORES else (None, None)
"""Each server on core 0 (only one is loaded at a time), wrk on core 1."""


@dataclass
class StateServer(ours.Server):
    purge_interval: str = NO_PURGE

    def env(self) -> dict[str, str]:
        env = super().env()
        env["TOLLHOUSE_PURGE_INTERVAL"] = self.purge_interval
        return env


@dataclass
class Side:
    """One server (empty or full) and what its runs need."""

    label: str
    server: ours.Server
    seeded: ours.Seeded
    cursors: tuple[int, int] = (0, 0)
    """(first, last) ``seq`` of the live revocations: pages are drawn between them."""
    token: str | None = None
    results: dict[str, list[wrk.WrkResult]] = field(default_factory=dict)


async def _cursor_range(url: str) -> tuple[int, int]:
    import asyncpg

    connection = await asyncpg.connect(seed_state.postgres_dsn(url))
    try:
        row = await connection.fetchrow(
            "SELECT min(seq), max(seq) FROM revocations WHERE expires_at > $1", int(time.time())
        )
    finally:
        await connection.close()
    return int(row[0] or 0), int(row[1] or 0)


def cursor_range(url: str) -> tuple[int, int]:
    import sqlite3

    path = seed_state.sqlite_path(url)
    if path is None:
        return asyncio.run(_cursor_range(url))
    connection = sqlite3.connect(path)
    try:
        found = connection.execute(
            "SELECT min(seq), max(seq) FROM revocations WHERE expires_at > ?", (int(time.time()),)
        ).fetchone()
    finally:
        connection.close()
    return int(found[0] or 0), int(found[1] or 0)


def _run(
    side: Side, path: str, seconds: float, script: str, args: tuple[str, ...]
) -> wrk.WrkResult:
    return wrk.run(
        side.server.base + path,
        seconds=seconds,
        connections=CONNECTIONS,
        script=script,
        args=args,
        cpus=WRK_CPUS,
    )


def _single_use(side: Side, kind: str, seconds: float, count: int) -> wrk.WrkResult:
    base, seeded = side.server.base, side.seeded
    if kind == "code":
        within = max(5.0, ours.CODE_LIFETIME - seconds - 10)
        values = ours.mint_codes(base, seeded, count, within=within)
        prefix = ours.code_exchange_prefix()
    else:
        values = ours.mint_refresh_tokens(base, seeded, count)
        prefix = ours.REFRESH_PREFIX
    path = side.server.workdir / f"{kind}.txt"
    path.write_text("\n".join(values) + "\n")
    try:
        args = (str(path), prefix, seeded.web_auth, str(CONNECTIONS))
        return _run(side, "/token", seconds, "tokens_from_file.lua", args)
    finally:
        path.unlink(missing_ok=True)


def scenario(side: Side, name: str, seconds: float, minted: int) -> wrk.WrkResult:
    seeded = side.seeded
    cc_body = f"grant_type=client_credentials&scope={ours.SCOPE}&resource={ours.API}"
    if name == "token_cc":
        return _run(side, "/token", seconds, "post_form.lua", (cc_body, seeded.cc_auth))
    if name == "introspect":
        if side.token is None:
            side.token = ours.access_token(side.server.base, seeded.cc_auth, ours.API)
        body = f"token={side.token}&token_type_hint=access_token"
        return _run(side, "/introspect", seconds, "post_form.lua", (body, seeded.cc_auth))
    if name in ("code", "refresh"):
        return _single_use(side, name, seconds, minted)
    low, high = side.cursors
    if name == "revocations_poll":  # a resource server that has caught up
        low = high
    elif low:
        low -= 1  # "since" is exclusive: the first live entry is on the page
    args = (seeded.cc_auth, str(low), str(high))
    return _run(side, "/revocations", seconds, "get_cursor.lua", args)


def p99(results: list[wrk.WrkResult]) -> float:
    return statistics.median(r.p99 for r in results)


def rps(results: list[wrk.WrkResult]) -> float:
    return statistics.median(r.rps for r in results)


def warm_up(sides: tuple[Side, ...]) -> None:
    """Unrecorded seconds of the cheap scenarios first: imports, caches, connections, the
    SQLite revocation copy filled from the table on the first introspection."""
    for side in sides:
        for name in ("token_cc", "introspect", "revocations_poll"):
            scenario(side, name, WARM_UP_SECONDS, 0)


def rounds(empty: Side, full: Side, seconds: float, count: int, minted: int) -> None:
    """``count`` rounds; in each, every scenario on empty then full (order flips)."""
    warm_up((empty, full))
    for index in range(count):
        order = (empty, full) if index % 2 == 0 else (full, empty)
        for name in SCENARIOS:
            for side in order:
                result = scenario(side, name, seconds, minted)
                side.results.setdefault(name, []).append(result)
                print(
                    f"  round {index + 1} {name:<17} {side.label:<5} {result.rps:>8,.0f} req/s "
                    f"p99 {result.p99:8.2f} ms errors {result.errors}",
                    flush=True,
                )


def summary(backend: str, empty: Side, full: Side, meta: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for name in SCENARIOS:
        e, f = empty.results.get(name, []), full.results.get(name, [])
        if not (e and f):
            continue
        rows.append(
            {
                "scenario": name,
                "empty_rps": round(rps(e), 1),
                "full_rps": round(rps(f), 1),
                "empty_p99": round(p99(e), 2),
                "full_p99": round(p99(f), 2),
                "ratio": round(p99(f) / p99(e), 2) if p99(e) and name not in UNPAIRED else None,
                "errors": sum(r.errors for r in (*e, *f)),
            }
        )
    return {"backend": backend, **meta, "rows": rows}


def compare(
    kind: str, workdir: Path, scale: float, seconds: float, count: int, minted: int
) -> dict[str, Any]:
    """Seed an empty and a full database of ``kind``, serve both, run the rounds."""
    (workdir / "empty").mkdir()
    (workdir / "full").mkdir()
    with (
        state_db.backend(kind, workdir / "empty", "_empty") as empty_db,
        state_db.backend(kind, workdir / "full", "_full") as full_db,
    ):
        servers = [
            StateServer(workdir / n, db, 1, SERVER_CPUS)
            for n, db in (("empty", empty_db), ("full", full_db))
        ]
        seeded = [server.seed() for server in servers]
        seconds_seeding = seed_state.seed(full_db.database or "", scale)
        sizes = seed_state.stats(full_db.database or "")
        seed_state.print_stats(sizes)
        sides = [
            Side(label, s, d)
            for label, s, d in zip(("empty", "full"), servers, seeded, strict=True)
        ]
        for side in sides:
            side.cursors = cursor_range(side.server.backend.database or "")
        for server in servers:
            server.start()
        try:
            rounds(sides[0], sides[1], seconds, count, minted)
        finally:
            for server in servers:
                server.stop()
    meta = {
        "scale": scale,
        "seed_seconds": round(seconds_seeding, 1),
        "tables": {s.table: {"rows": s.rows, "bytes": s.bytes} for s in sizes},
        "seconds": seconds,
        "rounds": count,
    }
    return summary(empty_db.name, sides[0], sides[1], meta)
