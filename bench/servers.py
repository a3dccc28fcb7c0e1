"""The HTTP server under the same application, side by side (issue 19).

Each candidate serves ``tollhouse.web.asgi:from_environment`` from the same state (one
SQLite database seeded by the real CLI, bench/idp/ours.py), one process pinned to core 0,
with the default configuration: log level ``info``, so every request writes its access
log line; rate limits off, because the load comes from one address. ``wrk`` (one thread,
50 connections) runs on core 1. Candidates alternate A B C A B C … and the medians are
printed; the machine may be shared, so single runs are noise.

    .venv/bin/python bench/servers.py [--rounds 3] [--seconds 8] [--only uvicorn,granian]

The candidates serve the code on ``PYTHONPATH`` (this checkout's when unset), except
``current``: plain uvicorn on this checkout's ``src``. To measure a server change against
the code before it, export the earlier commit (``git archive``) and point ``PYTHONPATH``
at its ``src``: ``fork`` is that commit's ``tollhouse serve``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from idp import ours, wrk

FACTORY = "tollhouse.web.asgi:from_environment"
CONNECTIONS = 50
PYTHON = str(ours.VENV_BIN / "python")


def tollhouse_serve(port: int) -> list[str]:
    """What ``tollhouse serve`` runs today."""
    return [ours.tollhouse_bin(), "serve", "--insecure-http", "--host", "127.0.0.1", "--port"] + [
        str(port)
    ]


def uvicorn_plain(port: int) -> list[str]:
    """uvicorn with uvloop and httptools, its own protocol unchanged."""
    code = (
        "import uvicorn; uvicorn.run("
        f"{FACTORY!r}, factory=True, host='127.0.0.1', port={port}, log_config=None, "
        "access_log=False, server_header=False, proxy_headers=False, lifespan='on', "
        "loop='uvloop', http='httptools', timeout_keep_alive=5)"
    )
    return [PYTHON, "-c", code]


def granian(port: int) -> list[str]:
    """granian's ASGI interface on uvloop, one worker, one Rust runtime thread."""
    return [
        str(ours.VENV_BIN / "granian"),
        "--interface",
        "asgi",
        "--factory",
        FACTORY,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--runtime-threads",
        "1",
        "--loop",
        "uvloop",
        "--http",
        "1",
        "--no-ws",
        "--no-access-log",
    ]


CANDIDATES: dict[str, Callable[[int], list[str]]] = {
    "fork": tollhouse_serve,
    "uvicorn": uvicorn_plain,
    "granian": granian,
    "current": uvicorn_plain,
}
SRC = Path(__file__).resolve().parents[1] / "src"


tree_cpu_seconds = ours.tree_cpu_seconds


class Candidate(ours.Server):
    def env(self) -> dict[str, str]:
        env = super().env()
        env["TOLLHOUSE_LOG_LEVEL"] = "info"  # the default: the access log is on
        env["TOLLHOUSE_INSECURE_HTTP"] = "true"
        env["TOLLHOUSE_PORT"] = str(self.port)
        return env

    def start_with(self, command: list[str], *, current: bool = False) -> None:
        env = self.env()
        if current:
            env["PYTHONPATH"] = str(SRC)
        self.log = (self.workdir / "server.log").open("ab")
        self.process = subprocess.Popen(
            ["taskset", "-c", "0", *command],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        ours.wait_ready(f"{self.base}/healthz", self.process)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--only", default="fork,uvicorn,granian")
    args = parser.parse_args()
    names = args.only.split(",")
    results: dict[str, dict[str, list[tuple[wrk.WrkResult, float]]]] = {n: {} for n in names}
    with tempfile.TemporaryDirectory(prefix="tollhouse-servers-") as tmp:
        workdir = Path(tmp)
        backend = ours.Backend("SQLite", f"sqlite:///{workdir / 'tollhouse.db'}", None)
        server = Candidate(workdir, backend, workers=1, cpus="0")
        seeded = server.seed()
        body = f"grant_type=client_credentials&scope={ours.SCOPE}&resource={ours.API}"
        for round_ in range(args.rounds):
            for name in names:
                server.start_with(CANDIDATES[name](server.port), current=name == "current")
                try:
                    wrk.run(server.base + "/jwks.json", seconds=1, connections=CONNECTIONS)
                    token = ours.access_token(server.base, seeded.cc_auth)
                    runs = {
                        "token_cc": ("/token", "post_form.lua", (body, seeded.cc_auth)),
                        "introspect": (
                            "/introspect",
                            "post_form.lua",
                            (f"token={token}", seeded.cc_auth),
                        ),
                    }
                    for scenario, (path, script, script_args) in runs.items():
                        assert server.process is not None
                        cpu_before = tree_cpu_seconds(server.process.pid)
                        result = wrk.run(
                            server.base + path,
                            seconds=args.seconds,
                            connections=CONNECTIONS,
                            script=script,
                            args=script_args,
                            cpus="1",
                        )
                        cpu = tree_cpu_seconds(server.process.pid) - cpu_before
                        micros = cpu / max(result.requests, 1) * 1e6
                        results[name].setdefault(scenario, []).append((result, micros))
                        print(
                            f"round {round_ + 1} {name:<8} {scenario:<10} "
                            f"{result.rps:9,.0f} req/s  p50 {result.p50:6.2f} ms  "
                            f"p99 {result.p99:6.2f} ms  {micros:6.0f} us CPU/req  "
                            f"errors {result.errors}",
                            flush=True,
                        )
                finally:
                    server.stop()
        lines = (workdir / "server.log").read_text(errors="replace").count('"msg":"request"')
        print(f"access-log lines written: {lines}")
    print("\nmedians")
    for name, scenarios in results.items():
        for scenario, runs_ in scenarios.items():
            rps = statistics.median(r.rps for r, _ in runs_)
            p99 = statistics.median(r.p99 for r, _ in runs_)
            micros = statistics.median(m for _, m in runs_)
            print(
                f"  {name:<8} {scenario:<10} {rps:9,.0f} req/s  p99 {p99:6.2f} ms  "
                f"{micros:6.0f} us CPU/req"
            )


if __name__ == "__main__":
    main()
