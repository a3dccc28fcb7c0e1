"""Purge soak: sustained grants against production-size state while the server's own
purger runs as deployed (``maintenance.Purger``: every ``purge_interval`` seconds, in
batches of ``purge_batch``, at its duty cycle); table rows and bytes sampled throughout.

Load per sample interval: ``wrk`` on ``/token`` client_credentials for the whole
interval and, beside it, refresh tokens minted through the browser path (each one an
``/authorize`` → code exchange) then rotated by ``wrk``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import seed_state
from idp import ours, wrk

CC_CONNECTIONS = 20
REFRESH_CONNECTIONS = 10


@dataclass
class Sample:
    elapsed: float
    tables: dict[str, dict[str, int]]
    token_cc: dict[str, float] = field(default_factory=dict)
    refresh: dict[str, float] = field(default_factory=dict)


def table_sizes(url: str) -> dict[str, dict[str, int]]:
    return {s.table: {"rows": s.rows, "bytes": s.bytes} for s in seed_state.stats(url)}


def _summary(result: wrk.WrkResult | None) -> dict[str, float]:
    if result is None:
        return {}
    return {
        "requests": result.requests,
        "rps": round(result.rps, 1),
        "p99_ms": round(result.p99, 2),
        "errors": result.errors,
    }


def _refresh_round(server: ours.Server, seeded: ours.Seeded, count: int) -> wrk.WrkResult:
    values = ours.mint_refresh_tokens(server.base, seeded, count)
    path = server.workdir / "soak-refresh.txt"
    path.write_text("\n".join(values) + "\n")
    try:
        return wrk.run(
            server.base + "/token",
            seconds=5,
            connections=REFRESH_CONNECTIONS,
            script="tokens_from_file.lua",
            args=(str(path), ours.REFRESH_PREFIX, seeded.web_auth, str(REFRESH_CONNECTIONS)),
        )
    finally:
        path.unlink(missing_ok=True)


def _interval(
    server: ours.Server, seeded: ours.Seeded, seconds: float, refresh_count: int
) -> tuple[wrk.WrkResult | None, wrk.WrkResult | None]:
    """``seconds`` of client_credentials load with one refresh round beside it."""
    found: dict[str, wrk.WrkResult] = {}
    body = f"grant_type=client_credentials&scope={ours.SCOPE}&resource={ours.API}"

    def cc() -> None:
        try:
            found["cc"] = wrk.run(
                server.base + "/token",
                seconds=seconds,
                connections=CC_CONNECTIONS,
                script="post_form.lua",
                args=(body, seeded.cc_auth),
            )
        except (RuntimeError, ValueError, OSError) as exc:
            print(f"  client_credentials load failed: {exc}", flush=True)

    thread = threading.Thread(target=cc)
    thread.start()
    refresh = None
    if refresh_count and seconds >= 15:
        try:
            refresh = _refresh_round(server, seeded, refresh_count)
        except (RuntimeError, OSError, httpx.HTTPError) as exc:
            # A slow answer while minting is a finding, not the end of the soak.
            print(f"  refresh round failed: {type(exc).__name__}: {exc}", flush=True)
    thread.join()
    return found.get("cc"), refresh


def run(
    server: ours.Server,
    seeded: ours.Seeded,
    *,
    duration: float,
    sample_every: float,
    refresh_count: int,
    out: Path | None,
    meta: dict[str, Any],
) -> list[Sample]:
    """Load for ``duration`` seconds, sampling tables every ``sample_every`` seconds."""
    url = server.backend.database or ""
    samples = [Sample(0.0, table_sizes(url))]
    _report(samples[-1], out, samples, meta)
    started = time.monotonic()
    while (left := duration - (time.monotonic() - started)) > 1:
        cc, refresh = _interval(server, seeded, min(sample_every, left), refresh_count)
        sample = Sample(
            round(time.monotonic() - started, 1), table_sizes(url), _summary(cc), _summary(refresh)
        )
        samples.append(sample)
        _report(sample, out, samples, meta)
    return samples


def _report(sample: Sample, out: Path | None, samples: list[Sample], meta: dict[str, Any]) -> None:
    rows = {t: v["rows"] for t, v in sample.tables.items() if v["rows"]}
    print(f"  t={sample.elapsed:7.1f} s cc={sample.token_cc} refresh={sample.refresh}")
    print(f"    rows {rows}", flush=True)
    if out is not None:
        document = {**meta, "samples": [asdict(s) for s in samples]}
        out.write_text(json.dumps(document, indent=1) + "\n")


def markdown(samples: list[Sample], meta: dict[str, Any]) -> str:
    """Start and end rows and bytes per table, and the load that ran in between."""
    first, last = samples[0], samples[-1]
    lines = [
        f"Purge soak: {meta.get('backend')}, state scale {meta.get('scale')}, "
        f"{last.elapsed:.0f} s of load, purge interval {meta.get('purge_interval')} s, "
        f"batch {meta.get('purge_batch')}, the database server's autovacuum "
        f"{meta.get('autovacuum', '?')}.",
        "",
        "| table | rows start | rows end | MiB start | MiB end |",
        "|---|---:|---:|---:|---:|",
    ]
    for table, start in first.tables.items():
        end = last.tables.get(table, {"rows": 0, "bytes": 0})
        if not (start["rows"] or end["rows"]):
            continue
        lines.append(
            f"| {table} | {start['rows']:,} | {end['rows']:,} | "
            f"{start['bytes'] / 2**20:,.1f} | {end['bytes'] / 2**20:,.1f} |"
        )
    cc = [s.token_cc for s in samples if s.token_cc]
    if cc:
        total = sum(int(c["requests"]) for c in cc)
        errors = sum(int(c["errors"]) for c in cc)
        p99 = max(float(c["p99_ms"]) for c in cc)
        lines += [
            "",
            f"client_credentials: {total:,} requests, {errors} errors, worst p99 {p99} ms.",
        ]
    refreshed = [s.refresh for s in samples if s.refresh]
    if refreshed:
        total = sum(int(c["requests"]) for c in refreshed)
        errors = sum(int(c["errors"]) for c in refreshed)
        lines.append(f"refresh (minted via code exchange): {total:,} rotations, {errors} errors.")
    return "\n".join(lines) + "\n"
