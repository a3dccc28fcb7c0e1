"""The --metrics-port listener: /metrics only, and slow or many clients cannot pile up
threads. (Serving a real ``tollhouse serve``: tests/e2e/test_metrics_access.py.)"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tollhouse.web import metrics_listener
from tollhouse.web.metrics_listener import MAX_CONNECTIONS, bind_metrics_socket, serve_metrics


@pytest.fixture
def listener(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setattr(metrics_listener._Handler, "timeout", 0.5)
    server = serve_metrics(bind_metrics_socket("127.0.0.1", 0))
    yield server.socket.getsockname()[1]
    server.shutdown()
    server.server_close()


def idle_connection(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def test_serves_metrics_and_nothing_else(listener: int) -> None:
    base = f"http://127.0.0.1:{listener}"
    answer = httpx.get(f"{base}/metrics?name[]=x")
    assert answer.status_code == 200
    assert "# TYPE tollhouse_http_requests_total counter" in answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert "server" not in answer.headers
    assert httpx.head(f"{base}/metrics").status_code == 200
    assert httpx.get(f"{base}/").status_code == 404
    refused = httpx.delete(f"{base}/metrics")
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"


def test_connections_beyond_the_cap_are_closed_at_once(listener: int) -> None:
    held = [idle_connection(listener) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.1)  # let the server take them
        extra = idle_connection(listener)
        with extra:
            assert extra.recv(1) == b""  # closed without an answer
    finally:
        for sock in held:
            sock.close()
    assert httpx.get(f"http://127.0.0.1:{listener}/metrics").status_code == 200


def test_a_client_that_sends_nothing_is_dropped_after_the_read_timeout(listener: int) -> None:
    held = [idle_connection(listener) for _ in range(MAX_CONNECTIONS)]
    try:
        started = time.monotonic()
        for sock in held:
            assert sock.recv(1) == b""
        assert time.monotonic() - started < 3
        # Their slots are free again.
        assert httpx.get(f"http://127.0.0.1:{listener}/metrics").status_code == 200
    finally:
        for sock in held:
            sock.close()
