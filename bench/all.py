"""The whole benchmark, once: what ``make bench`` runs (issue 22).

Steps, in order, each a script of its own run by this interpreter; quick ones first, so
that a broken set-up shows in minutes, and the hour-long soak last:

1. ``validate.py`` — access-token validation per core against raw ``cryptography``;
2. ``run.py`` — every scenario on SQLite and PostgreSQL + Redis, one and two processes,
   the access log's cost, node-oidc-provider and django-oauth-toolkit side by side;
   writes its RESULTS.md section and the README's performance table;
3. ``sign_in.py`` — sign-ins against raw argon2id, ``/token`` during a sign-in flood;
4. ``state.py compare`` — empty against production-size state, both backends;
5. ``state.py feed`` — a resource server's revocation feed catching up from zero;
6. ``state.py soak`` — grants for ``BENCH_SOAK_SECONDS`` (default 3600) on seeded
   state while the purger runs.

Full mode (the default): every step writes its section of bench/RESULTS.md. It needs a
quiet machine with at least two cores, ``wrk`` (installed if missing), node and npm
(node-oidc-provider), the package index (django-oauth-toolkit into a throwaway
virtualenv), PostgreSQL and Redis on 127.0.0.1 — checked before the first step.

Short mode (``BENCH_MODE=short`` or ``CI=true``): each script's short mode, SQLite only,
nothing written. ``bench/servers.py`` (HTTP servers side by side) and
``bench/seed_state.py`` (used by ``state.py``) are tools, not steps.

The first step that fails stops the run: its name and exit status are printed, and
this script exits with that status. The total time is printed at the end either way.

    .venv/bin/python bench/all.py [--dry-run]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SOAK_SECONDS = 3600
"""The soak's length in full mode (issue 22); ``BENCH_SOAK_SECONDS`` changes it."""


@dataclass(frozen=True)
class Step:
    script: str
    args: tuple[str, ...] = ()

    def command(self) -> list[str]:
        return [sys.executable, str(BENCH / self.script), *self.args]

    def name(self) -> str:
        return " ".join((self.script, *self.args))


def short_mode(env: dict[str, str]) -> bool:
    return env.get("CI", "").lower() == "true" or env.get("BENCH_MODE") == "short"


def soak_seconds(env: dict[str, str]) -> str:
    value = env.get("BENCH_SOAK_SECONDS", str(SOAK_SECONDS))
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"BENCH_SOAK_SECONDS: a whole number of seconds, got {value!r}")
    return value


def plan(env: dict[str, str]) -> list[Step]:
    """The steps for the mode ``env`` selects."""
    if short_mode(env):
        mode = ("--mode", "short")
        steps = [
            Step("validate.py", ("--quick", "--no-write")),
            Step("run.py", mode),
            Step("sign_in.py", mode),
            Step("state.py", ("compare", *mode)),
            Step("state.py", ("feed", *mode)),
            Step("state.py", ("soak", *mode)),
        ]
        if "BENCH_SOAK_SECONDS" in env:
            steps[-1] = Step("state.py", ("soak", *mode, "--duration", soak_seconds(env)))
        return steps
    full = ("--mode", "full", "--write")
    return [
        Step("validate.py"),
        Step("run.py", full),
        Step("sign_in.py", full),
        Step("state.py", ("compare", *full)),
        Step("state.py", ("feed", *full)),
        Step("state.py", ("soak", *full, "--duration", soak_seconds(env))),
    ]


def missing_for_full_run() -> list[str]:
    """What a full run needs and this machine lacks (an empty list: ready)."""
    sys.path.insert(0, str(BENCH))
    from idp import ours

    missing = []
    if len(os.sched_getaffinity(0)) < 2:
        missing.append("two cores (server and wrk each on its own)")
    if shutil.which("wrk") is None and shutil.which("apt-get") is None:
        missing.append("wrk (apt-get install wrk)")
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            missing.append(f"{tool} (node-oidc-provider, the peer)")
    if not ours.postgres_available():
        missing.append("PostgreSQL and Redis on 127.0.0.1")
    return missing


def run(step: Step) -> int:
    """Run ``step`` to its end; SIGTERM or Ctrl-C stops it (and its servers) first."""
    process = subprocess.Popen(step.command())  # noqa: S603 -- our own scripts
    try:
        return process.wait()
    except BaseException:
        process.send_signal(signal.SIGTERM)  # each script stops its servers on SIGTERM
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
        raise


def clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60} h {minutes % 60:02d} min {secs:02d} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the steps and stop")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    steps = plan(env)
    mode = "short" if short_mode(env) else "full"
    print(f"make bench: {mode} mode, {len(steps)} steps", flush=True)
    for number, step in enumerate(steps, 1):
        print(f"  {number}. {step.name()}")
    if args.dry_run:
        return 0
    if mode == "full":
        missing = missing_for_full_run()
        if missing:
            print("make bench: FAILED before the first step; missing: " + "; ".join(missing))
            return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    times: list[tuple[str, float]] = []
    status = 0
    try:
        for number, step in enumerate(steps, 1):
            print(f"\n== make bench {number}/{len(steps)}: {step.name()}", flush=True)
            began = time.monotonic()
            status = run(step)
            times.append((step.name(), time.monotonic() - began))
            if status != 0:
                print(
                    f"\nmake bench: FAILED at step {number}/{len(steps)} ({step.name()}), "
                    f"exit status {status}; the steps after it did not run",
                    flush=True,
                )
                break
    finally:
        for name, seconds in times:
            print(f"  {clock(seconds)}  {name}")
        print(f"make bench: {mode} mode, total {clock(time.monotonic() - started)}", flush=True)
    return status if status >= 0 else 128 - status  # killed by a signal: 128 + its number


if __name__ == "__main__":
    sys.exit(main())
