"""Requests per second a real ``tollhouse serve`` sustains, per worker count.

Starts the server on SQLite in a temporary data dir (``--insecure-http`` on 127.0.0.1,
the rate limits off so they do not cap the figure), registers one machine client with a
production-strength secret hash, and drives two scenarios with a bounded closed-loop
load (a fixed number of keep-alive connections, each sending its next request as soon
as the previous answer arrived, for a fixed time):

* ``POST /token`` with ``grant_type=client_credentials`` (client_secret_basic): client
  authentication (argon2id verify), an ES256 signature, a database write per token;
* ``GET /jwks.json``: the cheapest endpoint, i.e. the HTTP stack's ceiling.

The load generator is a minimal asyncio HTTP/1.1 client in this process (httpx costs
more CPU per request than the server does for /jwks.json). It shares the machine with
the server, so on a 2-core machine the 2-worker figures are a lower bound.

Results go to stdout and replace this script's section of bench/RESULTS.md.
Run with ``make bench`` or ``.venv/bin/python bench/serve_load.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
TOLLHOUSE = Path(sys.executable).parent / "tollhouse"
BEGIN, END = "<!-- bench/serve_load.py: begin -->", "<!-- bench/serve_load.py: end -->"


@dataclass
class Outcome:
    ok: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    if match is None:
        raise RuntimeError("response without Content-Length")
    await reader.readexactly(int(match.group(1)))
    return status


async def _connection(port: int, request: bytes, stop_at: float, outcome: Outcome) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            outcome.latencies.append(time.perf_counter() - started)
            if status == 200:
                outcome.ok += 1
            else:
                outcome.errors += 1
    finally:
        writer.close()


async def drive(port: int, request: bytes, connections: int, seconds: float) -> Outcome:
    outcome = Outcome()
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(
        *(_connection(port, request, stop_at, outcome) for _ in range(connections))
    )
    return outcome


def requests_for(client_id: str, secret: str) -> dict[str, bytes]:
    body = b"grant_type=client_credentials"
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    token = (
        "POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Basic {basic}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    jwks = b"GET /jwks.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    return {"POST /token (client_credentials)": token, "GET /jwks.json": jwks}


def start(data_dir: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TOLLHOUSE_RATE_LIMIT_TOKEN": "off",
        "TOLLHOUSE_RATE_LIMIT_TOKEN_CLIENT": "off",
        "TOLLHOUSE_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(  # noqa: S603 - our own console script
        [
            str(TOLLHOUSE),
            "serve",
            "--insecure-http",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--workers",
            str(workers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                time.sleep(1.5 if workers > 1 else 0.2)  # let every worker finish starting
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not become ready")


def create_client(data_dir: Path) -> tuple[str, str]:
    created = subprocess.run(  # noqa: S603
        [
            str(TOLLHOUSE),
            "clients",
            "create",
            "--name",
            "Bench",
            "--json",
            "--grant-type",
            "client_credentials",
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    doc = json.loads(created.stdout)
    return doc["client_id"], doc["client_secret"]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s per scenario instead of 10")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()
    seconds = 2.0 if args.quick else 10.0

    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tollhouse-bench-") as tmp:
        data_dir = Path(tmp)
        port = free_port()
        subprocess.run(  # noqa: S603
            [str(TOLLHOUSE), "migrate", "--data-dir", str(data_dir)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        client_id, secret = create_client(data_dir)
        for workers in (1, 2):
            process = start(data_dir, port, workers)
            try:
                for name, request in requests_for(client_id, secret).items():
                    asyncio.run(drive(port, request, args.connections, 1.0))  # warm-up
                    outcome = asyncio.run(drive(port, request, args.connections, seconds))
                    rate = outcome.ok / seconds
                    lat = sorted(outcome.latencies) or [0.0]
                    p50 = statistics.median(lat) * 1000
                    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
                    row = (
                        f"| {name} | {workers} | {rate:,.0f} | {rate / workers:,.0f} "
                        f"| {p50:.1f} | {p99:.1f} | {outcome.errors} |"
                    )
                    rows.append(row)
                    print(row, flush=True)
            finally:
                process.terminate()
                process.wait(15)

    machine = (
        f"Machine: {os.cpu_count()} cores (nproc), CPU: {cpu_model()}, "
        f"Python {platform.python_version()}, SQLite; load generator on the same machine, "
        f"{args.connections} keep-alive connections, {seconds:g} s per scenario after 1 s "
        f"of warm-up; {time.strftime('%Y-%m-%d')}."
    )
    table = "\n".join(
        [
            "## Serving throughput (`bench/serve_load.py`)",
            "",
            machine,
            "",
            "| scenario | workers | req/s | req/s per worker | p50 ms | p99 ms | non-200 |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            *rows,
        ]
    )
    print(table)
    if not args.no_write:
        write_section(table)


def write_section(table: str) -> None:
    section = f"{BEGIN}\n{table}\n{END}"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
