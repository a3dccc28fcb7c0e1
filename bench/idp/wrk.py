"""Drive Debian's ``wrk`` and read its ``--latency`` report.

``wrk`` is the load generator: a separate C process pinned to its own core, never a
Python client in the server's process. POST bodies, HTTP Basic credentials and
per-request tokens (authorization codes, refresh tokens) come from the Lua scripts in
``bench/idp/lua/``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

LUA = Path(__file__).resolve().parent / "lua"
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_LATENCY = re.compile(r"^\s*(50|75|90|99)(?:\.\d+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
_REQUESTS = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", re.M)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms) and errors."""

    requests: int
    seconds: float
    rps: float
    p50: float
    p90: float
    p99: float
    non_2xx: int = 0
    socket_errors: int = 0
    raw: str = field(default="", repr=False)
    exhausted: bool = False
    """The single-use values ran out before the end: ``rps`` is a lower bound."""

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def parse(output: str) -> WrkResult:
    """Parse the text wrk prints with ``--latency``; ValueError if it is not there."""
    latencies = {int(m.group(1)): _ms(m.group(2), m.group(3)) for m in _LATENCY.finditer(output)}
    requests = _REQUESTS.search(output)
    rps = _RPS.search(output)
    if requests is None or rps is None or not {50, 90, 99} <= latencies.keys():
        raise ValueError(f"not a wrk --latency report:\n{output}")
    non_2xx = _NON2XX.search(output)
    socket = _SOCKET.search(output)
    return WrkResult(
        requests=int(requests.group(1)),
        seconds=_ms(requests.group(2), requests.group(3)) / 1000.0,
        rps=float(rps.group(1)),
        p50=latencies[50],
        p90=latencies[90],
        p99=latencies[99],
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in socket.groups()) if socket else 0,
        raw=output,
    )


def ensure_wrk() -> str:
    """The wrk binary; installs Debian's package when missing (the only run-time install)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=False)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"],
        check=True,
        env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get could not install it")
    return found


def run(
    url: str,
    *,
    seconds: float,
    connections: int,
    script: str | None = None,
    args: tuple[str, ...] = (),
    cpus: str | None = None,
    timeout_s: float = 5.0,
) -> WrkResult:
    """One wrk run with one thread (one core) against ``url``."""
    command = [
        ensure_wrk(),
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s:g}s",
        "--latency",
    ]
    if script is not None:
        command += ["-s", str(LUA / script)]
    command.append(url)
    if args:
        command += ["--", *args]
    if cpus is not None and shutil.which("taskset"):
        command = ["taskset", "-c", cpus, *command]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + timeout_s + 30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return parse(done.stdout)
