"""Production-size state (issue 22, goal 3): ``make bench`` runs ``compare``, ``feed``
and ``soak``, in that order (bench/all.py), each with ``--write``.

* ``compare`` — each scenario (``/token`` client_credentials, code exchange, refresh,
  introspection, ``/revocations?since=``) against an empty state and against the state
  ``bench/seed_state.py`` loads, alternating empty/full servers over several rounds on
  SQLite and on PostgreSQL + Redis; p99 of each and the full/empty ratio (goal ≤ 1.2).
* ``soak`` — sustained grants on seeded state while the server's purger runs as
  deployed; rows and bytes per table at start and end (goal: flat). JSON and markdown
  with ``--out``.
* ``feed`` — a resource server's ``RevocationFeed`` catching up from zero over the
  seeded revocations: time to finish and peak traced memory.

Modes: ``full`` (by hand: scale 1, 10 s runs, 3 rounds, both backends; soak 3600 s)
and ``short`` (``CI=true`` or ``BENCH_MODE=short``: scale 0.001, 1 s runs, 1 round,
SQLite only). With ``--write`` each command replaces its own part of this script's
section of bench/RESULTS.md (between ``<!-- bench/state.py COMMAND: begin/end -->``), the
other parts kept.

    .venv/bin/python bench/state.py [compare|soak|feed] [--mode short|full] [--scale S]
        [--seconds S] [--rounds N] [--backends sqlite,postgres] [--duration S]
        [--out PATH] [--write]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import seed_state
from idp import compare_state, feed_catchup, ours, soak, state_db
from idp.results import RESULTS, replace_between

BEGIN, END = "<!-- bench/state.py: begin -->", "<!-- bench/state.py: end -->"
PARTS = {
    "compare": "Empty vs seeded state",
    "feed": "RevocationFeed catch-up",
    "soak": "Purge soak",
}
"""Each command's part of the section, in this order, with its heading."""
FLAT_TABLES = ("access_tokens", "revocations")
"""The soak's goal: these end no larger than they started (the purge keeps up)."""


@dataclass
class Mode:
    name: str
    scale: float
    seconds: float
    rounds: int
    backends: tuple[str, ...]
    duration: float
    sample_every: float
    minted: int


def mode_from(args: argparse.Namespace) -> Mode:
    short = os.environ.get("CI", "").lower() == "true" or os.environ.get("BENCH_MODE") == "short"
    name = args.mode or ("short" if short else "full")
    if name == "short":
        mode = Mode("short", 0.001, 1.0, 1, ("sqlite",), 20.0, 10.0, 150)
    else:
        mode = Mode("full", 1.0, 10.0, 3, ("sqlite", "postgres"), 3600.0, 300.0, 3000)
    for attribute in ("scale", "seconds", "rounds", "duration", "sample_every", "minted"):
        if getattr(args, attribute, None):
            setattr(mode, attribute, getattr(args, attribute))
    if args.backends:
        mode.backends = tuple(args.backends.split(","))
    return mode


def purge_settings() -> tuple[int, int]:
    from tollhouse.config import Settings

    fields = Settings.model_fields
    return int(fields["purge_interval"].default), int(fields["purge_batch"].default)


def run_soak(mode: Mode, args: argparse.Namespace) -> int:
    kind = mode.backends[-1]
    out = Path(args.out) if args.out else None
    with tempfile.TemporaryDirectory(prefix="tollhouse-soak-") as tmp:
        workdir = Path(tmp)
        with state_db.backend(kind, workdir, "_soak") as backend:
            server = ours.Server(workdir, backend, args.workers, None)
            seeded = server.seed()
            print(f"== soak: {backend.name}, seeding at scale {mode.scale:g}", flush=True)
            seconds = seed_state.seed(backend.database or "", mode.scale)
            interval, batch = purge_settings()
            meta = {
                "backend": backend.name,
                "scale": mode.scale,
                "seed_seconds": round(seconds, 1),
                "duration": mode.duration,
                "purge_interval": interval,
                "purge_batch": batch,
                "workers": args.workers,
                "autovacuum": seed_state.autovacuum(backend.database or ""),
            }
            server.start()
            try:
                samples = soak.run(
                    server,
                    seeded,
                    duration=mode.duration,
                    sample_every=mode.sample_every,
                    refresh_count=args.refresh_count,
                    out=out,
                    meta=meta,
                )
            finally:
                server.stop()
    text = soak.markdown(samples, meta) + "\n" + "\n".join(flat_lines(samples)) + "\n"
    print(text)
    if out is not None:
        out.with_suffix(".md").write_text(text)
    if args.write:
        write_results("soak", text)
    return 0


BYTES_TOLERANCE = 0.02
"""Bytes may end this much above the start and count as flat: tables and indexes grow
and shrink in steps (new pages, free-space maps, truncation by vacuum), so the same
contents need not give the same size."""


def _amount(what: str, value: int) -> str:
    return f"{value / 2**20:,.1f} MiB" if what == "bytes" else f"{value:,}"


def flat_lines(samples: list[soak.Sample]) -> list[str]:
    """The soak's verdict: rows and bytes of :data:`FLAT_TABLES` at the end against the
    start; and, for the reader, the bytes over the second half (the first half holds
    the purge of the seeded backlog)."""
    first, middle, last = samples[0].tables, samples[len(samples) // 2].tables, samples[-1].tables
    lines = []
    for table in FLAT_TABLES:
        start, half, end = (sizes.get(table, {}) for sizes in (first, middle, last))
        for what in ("rows", "bytes"):
            before, after = start.get(what, 0), end.get(what, 0)
            allowed = before * (1 + BYTES_TOLERANCE) if what == "bytes" else before
            verdict = (
                "met" if after <= allowed else f"**missed**: {after / max(before, 1) - 1:+.1%}"
            )
            lines.append(
                f"- {table} {what}: {_amount(what, before)} → {_amount(what, after)} "
                f"(goal: flat, {verdict})."
            )
        grown = end.get("bytes", 0) / max(half.get("bytes", 0), 1) - 1
        lines.append(f"  {table} bytes over the second half: {grown:+.1%}.")
    return lines


def run_feed(mode: Mode, args: argparse.Namespace) -> int:
    """Seed in a child process (so this process's peak RSS is the feed's), serve, catch up."""
    kind = mode.backends[0]
    with tempfile.TemporaryDirectory(prefix="tollhouse-feed-") as tmp:
        workdir = Path(tmp)
        with state_db.backend(kind, workdir, "_feed") as backend:
            server = compare_state.StateServer(workdir, backend, 1, None)
            seeded = server.seed()
            url = backend.database or ""
            seed = [sys.executable, str(Path(__file__).parent / "seed_state.py")]
            seed += ["--database", url, "--scale", str(mode.scale), "--tables", "revocations"]
            subprocess.run(seed, check=True)  # noqa: S603 -- our own script
            low, high = compare_state.cursor_range(url)
            server.start()
            try:
                found = feed_catchup.measure(server.base, seeded.cc_id, seeded.cc_secret, high)
            finally:
                server.stop()
    found.update(backend=backend.name, scale=mode.scale, live_entries=high - low + 1)
    text = (
        f"RevocationFeed catch-up from zero, {found['backend']}, state scale {mode.scale:g}: "
        f"{found['live_entries']:,} live entries in {found['polls']} polls, "
        f"{found['seconds']} s wall ({found['cpu_seconds']} s CPU in the feed's process), "
        f"{found['entries']:,} entries held; peak traced memory {found['peak_traced_mib']} MiB, "
        f"peak RSS {found['peak_rss_mib']} MiB.\n"
    )
    print(text)
    if args.out:
        Path(args.out).write_text(json.dumps(found, indent=1) + "\n")
    if args.write:
        write_results("feed", text)
    return 0


def run_compare(mode: Mode, args: argparse.Namespace) -> int:
    found = []
    for kind in mode.backends:
        if kind == "postgres" and not ours.postgres_available():
            print("skipping PostgreSQL + Redis: not reachable on 127.0.0.1")
            continue
        print(f"== compare: {kind}, state scale {mode.scale:g}", flush=True)
        with tempfile.TemporaryDirectory(prefix="tollhouse-state-") as tmp:
            found.append(
                compare_state.compare(
                    kind, Path(tmp), mode.scale, mode.seconds, mode.rounds, mode.minted
                )
            )
    text = compare_markdown(found)
    print(text)
    if args.out:
        Path(args.out).write_text(json.dumps(found, indent=1) + "\n")
    if args.write:
        write_results("compare", text)
    return 0


def compare_markdown(found: list[dict[str, object]]) -> str:
    lines = []
    for run in found:
        lines += [
            f"**{run['backend']}**, one process, state scale {run['scale']} "
            f"(seeded in {run['seed_seconds']} s), {run['seconds']} s runs, "
            f"{run['rounds']} alternating rounds, medians:",
            "",
            "| scenario | empty req/s | full req/s | empty p99 ms | full p99 ms "
            f"| full/empty p99 | goal ≤ {compare_state.RATIO_GOAL} |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        for row in run["rows"]:  # type: ignore[attr-defined]
            ratio = row["ratio"]
            verdict = (
                "—"
                if ratio is None
                else "met"
                if ratio <= compare_state.RATIO_GOAL
                else "**missed**"
            )
            lines.append(
                f"| {row['scenario']} | {row['empty_rps']:,.0f} | {row['full_rps']:,.0f} | "
                f"{row['empty_p99']} | {row['full_p99']} | {'—' if ratio is None else ratio} "
                f"| {verdict} |"
            )
        lines.append("")
    if found:
        lines += [
            "`revocations_poll`: a resource server that has caught up asks for what is new; "
            "`revocations_page`: a page of 1,000 live entries on the seeded state, an empty "
            "page on the empty one, so no ratio (catching up over the whole list: the feed "
            "part).",
            "",
        ]
    return "\n".join(lines)


def machine() -> str:
    import platform

    model = "unknown CPU"
    for text in Path("/proc/cpuinfo").read_text().splitlines():
        if text.startswith("model name"):
            model = text.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def part_markers(command: str) -> tuple[str, str]:
    return f"<!-- bench/state.py {command}: begin -->", f"<!-- bench/state.py {command}: end -->"


def skeleton() -> str:
    """This script's section with every part not yet run."""
    parts = [f"{begin}\n_Not run yet._\n{end}" for begin, end in map(part_markers, PARTS)]
    return "\n".join(
        [
            BEGIN,
            "## Production-size state (`bench/seed_state.py`, `bench/state.py`; issue 22 goal 3)",
            "",
            "Each part written by its own `bench/state.py` command (`make bench` runs all "
            "three), with the machine, the time and the load average when it ended.",
            "",
            "\n\n".join(parts),
            END,
        ]
    )


def with_part(text: str, command: str, body: str) -> str:
    """``text`` (RESULTS.md) with ``command``'s part replaced by ``body``, the other parts
    kept; a section without parts (written by hand) becomes the skeleton first."""
    begin, end = part_markers(command)
    inside = text.split(BEGIN, 1)[1].split(END, 1)[0] if BEGIN in text and END in text else ""
    if not any(part_markers(name)[0] in inside for name in PARTS):
        text = replace_between(text, BEGIN, END, skeleton())
    elif begin not in inside:
        head, tail = text.split(END, 1)
        text = f"{head}\n{begin}\n{end}\n{END}{tail}"
    return replace_between(text, begin, end, f"{begin}\n{body}{end}")


def write_results(command: str, section: str) -> None:
    """Replace ``command``'s part of this script's section of RESULTS.md."""
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    body = (
        f"### {PARTS[command]} (`state.py {command}`)\n\n"
        f"_{machine()}, {today}, load average {load}._\n\n{section.rstrip()}\n"
    )
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    RESULTS.write_text(with_part(text, command, body))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "command", nargs="?", default="compare", choices=("compare", "soak", "feed")
    )
    parser.add_argument("--mode", choices=("short", "full"))
    parser.add_argument("--scale", type=float)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--backends")
    parser.add_argument("--duration", type=float)
    parser.add_argument("--sample-every", dest="sample_every", type=float)
    parser.add_argument("--refresh-count", dest="refresh_count", type=int, default=300)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--minted", type=int)
    parser.add_argument("--out")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    mode = mode_from(args)
    if args.command == "soak":
        return run_soak(mode, args)
    if args.command == "compare":
        return run_compare(mode, args)
    if args.command == "feed":
        return run_feed(mode, args)
    raise SystemExit(f"{args.command}: not yet")


if __name__ == "__main__":
    sys.exit(main())
