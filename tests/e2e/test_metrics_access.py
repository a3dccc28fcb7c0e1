"""Who may read /metrics (issue 21, item 13), against a real server on 127.0.0.1.

Tests can only connect from 127.x addresses, which are loopback. An outside caller is
therefore simulated the way one reaches a real deployment: through a trusted reverse
proxy (``--trusted-proxies 127.0.0.1``) that names it in ``X-Forwarded-For``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.e2e.conftest import Seed, free_port, seed_database, start_server, stop

TOKEN = secrets.token_urlsafe(32)
OUTSIDE = {"X-Forwarded-For": "203.0.113.9"}
SAMPLE = "tollhouse_http_requests_total"


@contextmanager
def serving(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[str]:
    asyncio.run(seed_database(f"sqlite:///{tmp_path / 'tollhouse.db'}", Seed()))
    port = free_port()
    process, _ = start_server(tmp_path, port, *extra, env=env)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def metrics(
    base_url: str, headers: dict[str, str] | None = None, *, local_address: str | None = None
) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=local_address)
    with httpx.Client(base_url=base_url, transport=transport, timeout=10) as http:
        return http.get("/metrics", headers=headers)


def test_an_outside_caller_needs_the_metrics_token(tmp_path: Path) -> None:
    env = {"TOLLHOUSE_METRICS_TOKEN": TOKEN}
    with serving(tmp_path, "--trusted-proxies", "127.0.0.1", env=env) as base_url:
        # Loopback callers keep reading it without a token.
        assert metrics(base_url).status_code == 200
        local_via_proxy = metrics(base_url, {"X-Forwarded-For": "127.0.0.1"})
        assert local_via_proxy.status_code == 200

        anonymous = metrics(base_url, OUTSIDE)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == 'Bearer realm="metrics"'
        assert SAMPLE not in anonymous.text

        wrong = metrics(base_url, {**OUTSIDE, "Authorization": f"Bearer {TOKEN[:-1]}x"})
        assert wrong.status_code == 401
        assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
        assert SAMPLE not in wrong.text
        basic = metrics(base_url, {**OUTSIDE, "Authorization": f"Basic {TOKEN}"})
        assert basic.status_code == 401

        allowed = metrics(base_url, {**OUTSIDE, "Authorization": f"Bearer {TOKEN}"})
        assert allowed.status_code == 200, allowed.text
        assert SAMPLE in allowed.text


def test_without_a_token_outside_callers_are_refused(tmp_path: Path) -> None:
    with serving(tmp_path, "--trusted-proxies", "127.0.0.1") as base_url:
        assert metrics(base_url).status_code == 200
        assert metrics(base_url, local_address="127.0.0.2").status_code == 200

        refused = metrics(base_url, OUTSIDE)
        assert refused.status_code == 403
        assert refused.json()["error"] == "access_denied"
        assert "TOLLHOUSE_METRICS_TOKEN" in refused.json()["error_description"]
        assert SAMPLE not in refused.text
        # A token is no use when none is configured.
        assert metrics(base_url, {**OUTSIDE, "Authorization": "Bearer x"}).status_code == 403

        # 127.0.0.2 is not a trusted proxy: what it forwards is not believed, and a
        # loopback peer that forwards for someone is a proxy, not a local caller.
        untrusted_proxy = metrics(base_url, OUTSIDE, local_address="127.0.0.2")
        assert untrusted_proxy.status_code == 403


def test_a_loopback_proxy_that_is_not_trusted_does_not_make_everyone_local(
    tmp_path: Path,
) -> None:
    with serving(tmp_path) as base_url:  # no --trusted-proxies
        assert metrics(base_url).status_code == 200
        assert metrics(base_url, OUTSIDE).status_code == 403
        assert metrics(base_url, {"Forwarded": "for=203.0.113.9"}).status_code == 403
        assert metrics(base_url, {"X-Real-IP": "203.0.113.9"}).status_code == 403


def test_the_old_behaviour_is_an_opt_in(tmp_path: Path) -> None:
    env = {"TOLLHOUSE_METRICS_PUBLIC": "true"}
    with serving(tmp_path, "--trusted-proxies", "127.0.0.1", env=env) as base_url:
        assert metrics(base_url, OUTSIDE).status_code == 200


def test_the_metrics_port_serves_metrics_and_nothing_else(tmp_path: Path) -> None:
    metrics_port = free_port()
    args = ("--trusted-proxies", "127.0.0.1", "--metrics-port", str(metrics_port))
    with serving(tmp_path, *args) as base_url:
        httpx.get(f"{base_url}/healthz")
        listener = f"http://127.0.0.1:{metrics_port}"
        scraped = metrics(listener)
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
        assert 'tollhouse_http_requests_total{endpoint="/healthz",status="200"}' in scraped.text
        # Any caller that reaches the port may scrape it (bind it where only they can).
        assert metrics(listener, local_address="127.0.0.2").status_code == 200
        for path in ("/token", "/healthz", "/metrics/x", "/"):
            assert httpx.get(f"{listener}{path}").status_code == 404, path
        assert httpx.post(f"{listener}/metrics").status_code == 405
        # The main listener still refuses outside callers.
        assert metrics(base_url, OUTSIDE).status_code == 403


def test_the_metrics_port_sums_every_worker(tmp_path: Path) -> None:
    metrics_port = free_port()
    with serving(tmp_path, "--workers", "2", "--metrics-port", str(metrics_port)) as base_url:
        for _ in range(20):
            httpx.get(f"{base_url}/healthz")
        text = metrics(f"http://127.0.0.1:{metrics_port}").text
    line = next(
        line
        for line in text.splitlines()
        if line.startswith('tollhouse_http_requests_total{endpoint="/healthz",status="200"}')
    )
    # The start-up probes plus these 20, whichever worker answered them.
    assert float(line.rsplit(" ", 1)[1]) >= 20


def test_a_metrics_port_in_use_stops_start_up_with_one_line(tmp_path: Path) -> None:
    import socket
    import subprocess

    from tests.e2e.conftest import TOLLHOUSE

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                str(TOLLHOUSE),
                "serve",
                "--insecure-http",
                "--port",
                str(free_port()),
                "--data-dir",
                str(tmp_path),
                "--metrics-port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port} for metrics" in result.stderr
