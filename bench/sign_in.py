"""Sign-in throughput against raw argon2id, and ``/token`` latency during a sign-in flood.

Three measurements, alternated in rounds (the machine may be shared):

* **raw**: N processes (N = the cores given to the server), each pinned to its own
  core, verifying the right password against a hash made at the server's configured
  parameters (``PasswordHasher.for_users()``, RFC 9106 §4: t=3, m=64 MiB, p=4) in a
  tight loop for a fixed time: verifications per second in total, and per CPU-second.
* **server**: ``tollhouse serve`` on the same cores (one process on core 0, or
  ``--workers 2`` on both), seeded by the real CLI (bench/idp/ours.py). A driver
  process signs in through the built-in pages exactly as a browser does: a fresh
  cookie jar, ``/authorize`` → the login page → the login form's POST with its
  interaction and CSRF fields → the redirect to the callback with a code (consent was
  given once during the warm-up and is remembered). It keeps enough sign-ins in flight
  to keep every password-check slot busy and counts those that reach the code. Login
  lockout and the per-address limits are off (ours.py's environment): all the load
  comes from 127.0.0.1, which they would otherwise refuse.
* **flood**: ``/token`` client_credentials under wrk (50 connections), once quiet and
  once while 300 concurrent sign-ins run; each refused one (503, the hash gate of
  security/hash_gate.py) waits its ``Retry-After`` as the built-in page asks, then
  tries again.

``BENCH_MODE=short`` or ``CI=true``: a tiny run that writes nothing. Full mode (the
default of ``make bench``) writes this script's section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

sys.path.insert(0, str(Path(__file__).resolve().parent))

from idp import browser, ours, wrk
from idp.results import RESULTS, write_section
from run import machine

BEGIN, END = "<!-- bench/sign_in.py: begin -->", "<!-- bench/sign_in.py: end -->"
TOKEN_CONNECTIONS = 50
IN_FLIGHT_PER_CORE = 4
"""Sign-ins the driver keeps in flight per server core: enough to keep each
password-check slot busy, well under the gate's queue (32) so none is refused."""


@dataclass
class Mode:
    name: str
    seconds: float
    rounds: int
    flood: int


def mode_from(args: argparse.Namespace) -> Mode:
    short = os.environ.get("CI", "").lower() == "true" or os.environ.get("BENCH_MODE") == "short"
    name = args.mode or ("short" if short else "full")
    mode = Mode("short", 3.0, 1, 20) if name == "short" else Mode("full", 15.0, 3, 300)
    if args.seconds:
        mode.seconds = args.seconds
    if args.rounds:
        mode.rounds = args.rounds
    if args.flood:
        mode.flood = args.flood
    return mode


def self_command(*args: str, cpus: str | None) -> list[str]:
    command = [sys.executable, str(Path(__file__).resolve()), *args]
    return ["taskset", "-c", cpus, *command] if cpus is not None else command


# Raw argon2id ---------------------------------------------------------------------------


def raw_worker(seconds: float) -> None:
    """One process: verify in a loop for ``seconds``; print count and CPU seconds."""
    from tollhouse.security.passwords import PasswordHasher

    hasher = PasswordHasher.for_users()
    stored = hasher.hash(ours.PASSWORD)
    hasher.verify(stored, ours.PASSWORD)
    count, started, cpu = 0, time.monotonic(), time.process_time()
    while time.monotonic() - started < seconds:
        if not hasher.verify(stored, ours.PASSWORD):
            raise SystemExit("the right password did not verify")
        count += 1
    elapsed = time.monotonic() - started
    print(json.dumps({"count": count, "seconds": elapsed, "cpu": time.process_time() - cpu}))


def raw_rate(cores: int, seconds: float) -> tuple[float, float]:
    """(verifications/s, verifications per CPU-second) of ``cores`` pinned processes."""
    workers = [
        subprocess.Popen(  # noqa: S603 - this interpreter running this script
            self_command("--raw-worker", str(seconds), cpus=str(core)),
            stdout=subprocess.PIPE,
            text=True,
        )
        for core in range(cores)
    ]
    answers = [json.loads(worker.communicate(timeout=seconds + 60)[0]) for worker in workers]
    rate = sum(a["count"] / a["seconds"] for a in answers)
    per_cpu = sum(a["count"] for a in answers) / sum(a["cpu"] for a in answers)
    return rate, per_cpu


# Sign-ins through the built-in pages ----------------------------------------------------


async def sign_in_once(http: browser.Browser, client_id: str) -> tuple[str, float]:
    """One browser sign-in from a fresh cookie jar and a new connection (with
    ``--workers``, the kernel spreads connections, as it would spread people):
    ("ok", 0), ("busy", retry_after) when the server refused to check the password
    now, or ("failed", 0)."""
    http.cookies.clear()
    await http.close()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": ours.CALLBACK,
        "scope": f"openid {ours.SCOPE}",
        "state": secrets.token_urlsafe(8),
        "code_challenge": ours.CHALLENGE,
        "code_challenge_method": "S256",
    }
    answer = await http.get("/authorize", params)
    for _ in range(6):
        if answer.status in (302, 303) and "location" in answer.headers:
            location = urljoin(answer.url, answer.headers["location"])
            if location.startswith(ours.CALLBACK):
                return ("ok", 0.0) if "code=" in location else ("failed", 0.0)
            answer = await http.get(location)
        elif answer.status == 503:
            return "busy", float(answer.headers.get("retry-after", "1"))
        elif answer.status == 200:
            form = ours._Forms()
            form.feed(answer.body)
            data = dict(form.inputs)
            if 'name="password"' in answer.body:
                data.update(username=ours.USERNAME, password=ours.PASSWORD)
            else:
                data["decision"] = "allow"
            answer = await http.post(urljoin(answer.url, form.action or ""), data)
        else:
            return "failed", 0.0
    return "failed", 0.0


async def drive(base: str, client_id: str, in_flight: int, warmup: float, seconds: float) -> None:
    """Keep ``in_flight`` sign-ins going; count outcomes that end inside the window
    [warmup, warmup + seconds). Prints the counts as JSON."""
    counts = {"ok": 0, "busy": 0, "failed": 0}
    start = time.monotonic()
    window = (start + warmup, start + warmup + seconds)

    async def one() -> None:
        http = browser.Browser.for_base(base)
        while time.monotonic() < window[1]:
            try:
                outcome, wait = await sign_in_once(http, client_id)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                outcome, wait = "failed", 0.0
                await http.close()
            if window[0] <= time.monotonic() < window[1]:
                counts[outcome] += 1
            if wait:  # as asked, give or take: people refused together do not retry together
                wait *= random.uniform(1.0, 1.5)  # noqa: S311 - not a secret
                await asyncio.sleep(min(wait, max(0.0, window[1] - time.monotonic())))
        await http.close()

    await asyncio.gather(*(one() for _ in range(in_flight)))
    print(json.dumps({**counts, "seconds": seconds}))


def start_driver(
    server: ours.Server,
    client_id: str,
    in_flight: int,
    warmup: float,
    seconds: float,
    cpus: str | None,
) -> subprocess.Popen[str]:
    args = ("--drive", server.base, client_id, str(in_flight), str(warmup), str(seconds))
    command = self_command(*args, cpus=cpus)
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603 - as above


def driver_counts(driver: subprocess.Popen[str], timeout: float) -> dict[str, float]:
    out, _ = driver.communicate(timeout=timeout)
    counts: dict[str, float] = json.loads(out)
    return counts


def server_rate(
    server: ours.Server, web_id: str, cores: int, seconds: float, cpus: str | None
) -> tuple[float, float, int]:
    """(sign-ins/s, sign-ins per server CPU-second, failures) with every slot busy."""
    warmup = 3.0
    driver = start_driver(server, web_id, IN_FLIGHT_PER_CORE * cores, warmup, seconds, cpus)
    assert server.process is not None
    time.sleep(warmup)
    cpu_before = ours.tree_cpu_seconds(server.process.pid)
    time.sleep(seconds)
    cpu = ours.tree_cpu_seconds(server.process.pid) - cpu_before
    counts = driver_counts(driver, seconds + 120)
    return (
        counts["ok"] / seconds,
        counts["ok"] / max(cpu, 1e-9),
        int(counts["failed"] + counts["busy"]),
    )


# /token during a flood ------------------------------------------------------------------


def token_p99(
    server: ours.Server, seeded: ours.Seeded, seconds: float, cpus: str | None
) -> wrk.WrkResult:
    body = f"grant_type=client_credentials&scope={ours.SCOPE}"
    return wrk.run(
        f"{server.base}/token",
        seconds=seconds,
        connections=TOKEN_CONNECTIONS,
        script="post_form.lua",
        args=(body, seeded.cc_auth),
        cpus=cpus,
    )


def flooded_token(
    server: ours.Server, seeded: ours.Seeded, flood: int, seconds: float, cpus: str | None
) -> tuple[wrk.WrkResult, dict[str, float]]:
    """``/token`` under wrk while ``flood`` sign-ins run (started 3 s before wrk)."""
    warmup = 3.0
    driver = start_driver(server, seeded.web_id, flood, warmup, seconds + 1, cpus)
    time.sleep(warmup)
    result = token_p99(server, seeded, seconds, cpus)
    return result, driver_counts(driver, seconds + 120)


# Rounds and report ----------------------------------------------------------------------


@dataclass
class Setup:
    label: str
    cores: int
    server: ours.Server
    seeded: ours.Seeded
    load_cpus: str | None
    """Where wrk and the flood run: the free core, or anywhere when the server has both."""


@dataclass
class Figures:
    raw: list[float]
    raw_cpu: list[float]
    rate: list[float]
    rate_cpu: list[float]
    failures: int = 0

    @classmethod
    def empty(cls) -> Figures:
        return cls([], [], [], [])


@dataclass
class Flood:
    quiet: list[wrk.WrkResult]
    flooded: list[wrk.WrkResult]
    sign_ins: list[dict[str, float]]


def start(label: str, workers: int, cpus: str, load_cpus: str | None, root: Path) -> Setup:
    workdir = root / label.replace(" ", "-")
    workdir.mkdir()
    server = ours.Server(
        workdir, ours.Backend("SQLite", f"sqlite:///{workdir / 'db'}", None), workers, cpus
    )
    seeded = server.seed()
    server.start()

    async def consent_once() -> None:
        http = browser.Browser.for_base(server.base)
        outcome, _ = await sign_in_once(http, seeded.web_id)
        await http.close()
        if outcome != "ok":
            raise RuntimeError(f"the warm-up sign-in ended {outcome}")

    asyncio.run(consent_once())
    return Setup(label, workers, server, seeded, load_cpus)


def one_round(
    setups: list[Setup],
    mode: Mode,
    figures: dict[str, Figures],
    floods: dict[str, Flood],
    flip: bool,
) -> None:
    for setup in reversed(setups) if flip else setups:
        fig = figures[setup.label]
        raw, raw_cpu = raw_rate(setup.cores, mode.seconds)
        rate, rate_cpu, failures = server_rate(
            setup.server, setup.seeded.web_id, setup.cores, mode.seconds, setup.load_cpus
        )
        fig.raw.append(raw)
        fig.raw_cpu.append(raw_cpu)
        fig.rate.append(rate)
        fig.rate_cpu.append(rate_cpu)
        fig.failures += failures
        print(
            f"  {setup.label}: raw {raw:.2f}/s ({raw_cpu:.2f}/CPU-s), server {rate:.2f}/s "
            f"({rate_cpu:.2f}/CPU-s), ratio {rate / raw:.0%}, not signed in {failures}"
        )
        flood = floods[setup.label]
        before = token_p99(setup.server, setup.seeded, mode.seconds, setup.load_cpus)
        flooded, counts = flooded_token(
            setup.server, setup.seeded, mode.flood, mode.seconds, setup.load_cpus
        )
        time.sleep(2)  # the flood's last sign-ins end
        after = token_p99(setup.server, setup.seeded, mode.seconds, setup.load_cpus)
        quiet = min((before, after), key=lambda r: r.p99)
        flood.quiet.append(quiet)
        flood.flooded.append(flooded)
        flood.sign_ins.append(counts)
        print(
            f"  {setup.label}: /token quiet {quiet.rps:,.0f}/s p99 {quiet.p99:.1f} ms; "
            f"flooded {flooded.rps:,.0f}/s p99 {flooded.p99:.1f} ms; sign-ins {counts}"
        )


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def markdown(mode: Mode, figures: dict[str, Figures], floods: dict[str, Flood]) -> str:
    lines = [
        BEGIN,
        "## Sign-in throughput and `/token` during a sign-in flood (`bench/sign_in.py`)",
        "",
        f"Machine: {machine()}; {time.strftime('%Y-%m-%d')}; load average"
        f" {os.getloadavg()[0]:.1f} at the end of the run. Medians of {mode.rounds} rounds of"
        f" {mode.seconds:g} s per figure, the measurements alternated within each round."
        " argon2id at the server's parameters (RFC 9106 §4: t=3, m=64 MiB, p=4).",
        "",
        "| server | raw verify/s | sign-ins/s | ratio | raw per CPU-s |"
        " sign-ins per server CPU-s | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, fig in figures.items():
        ratios = [r / w for r, w in zip(fig.rate, fig.raw, strict=True)]
        cpu_ratios = [r / w for r, w in zip(fig.rate_cpu, fig.raw_cpu, strict=True)]
        lines.append(
            f"| {label} | {median(fig.raw):.2f} | {median(fig.rate):.2f} | {median(ratios):.0%} |"
            f" {median(fig.raw_cpu):.2f} | {median(fig.rate_cpu):.2f} | {median(cpu_ratios):.0%} |"
        )
    lines += [
        "",
        f"`/token` client_credentials, wrk with {TOKEN_CONNECTIONS} connections, quiet"
        f" (the better of just before and just after the flood) and during {mode.flood}"
        " concurrent sign-ins:",
        "",
        "| server | quiet req/s | quiet p99 | flood req/s | flood p99 | p99 flood/quiet |"
        " sign-ins/s in the flood | refused (503)/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, flood in floods.items():
        ratios = [f.p99 / q.p99 for f, q in zip(flood.flooded, flood.quiet, strict=True)]
        ok = median([c["ok"] / c["seconds"] for c in flood.sign_ins])
        busy = median([c["busy"] / c["seconds"] for c in flood.sign_ins])
        lines.append(
            f"| {label} | {median([q.rps for q in flood.quiet]):,.0f} |"
            f" {median([q.p99 for q in flood.quiet]):.1f} ms |"
            f" {median([f.rps for f in flood.flooded]):,.0f} |"
            f" {median([f.p99 for f in flood.flooded]):.1f} ms | {median(ratios):.2f} |"
            f" {ok:.1f} | {busy:.1f} |"
        )
    lines += ["", NOTES, END]
    return "\n".join(lines)


NOTES = (
    "*raw*: one process per core, pinned, verifying the right password in a loop"
    " (argon2-cffi, which runs the 4 lanes in 4 threads). *sign-ins*: complete browser"
    " sign-ins through the built-in pages from a fresh cookie jar (`/authorize`, login"
    " page, login POST, redirect with a code), login lockout and per-address limits off"
    " because all the load comes from one address; the driver runs on the machine too"
    " (on the free core for the one-process server). *per CPU-s*: the same count divided"
    " by the CPU time the verifying processes, or the server's processes, used in the"
    " window: it does not depend on what else the machine runs. In the flood, a refused"
    " sign-in waits its `Retry-After` (times 1 to 1.5 at random: people refused together"
    " do not all retry at the same instant) before trying again, as the page asks."
    " Wall-clock figures depend on what else the machine runs (the load average above);"
    " compare within one run."
)


def write_results(section: str) -> None:
    write_section(BEGIN, END, section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("short", "full"))
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--flood", type=int, help="concurrent sign-ins in the flood")
    parser.add_argument("--write", action="store_true", help="write RESULTS.md (full: always)")
    parser.add_argument("--raw-worker", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--drive", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.raw_worker:
        raw_worker(args.raw_worker)
        return 0
    if args.drive:
        base, client_id, in_flight, warmup, seconds = args.drive
        asyncio.run(drive(base, client_id, int(in_flight), float(warmup), float(seconds)))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    mode = mode_from(args)
    print(f"bench/sign_in.py: {mode.name} mode on {machine()}")
    wrk.ensure_wrk()
    two = len(os.sched_getaffinity(0)) >= 2
    with tempfile.TemporaryDirectory(prefix="tollhouse-sign-in-") as tmp:
        setups = [start("1 process, 1 core", 1, "0", "1" if two else None, Path(tmp))]
        try:
            if two and mode.name == "full":
                setups.append(start("--workers 2, 2 cores", 2, "0-1", None, Path(tmp)))
            figures = {s.label: Figures.empty() for s in setups}
            floods = {s.label: Flood([], [], []) for s in setups}
            for number in range(mode.rounds):
                print(f"round {number + 1}/{mode.rounds}")
                one_round(setups, mode, figures, floods, flip=number % 2 == 1)
        finally:
            for setup in setups:
                setup.server.stop()
    section = markdown(mode, figures, floods)
    print(section)
    if mode.name == "full" or args.write:
        write_results(section)
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
