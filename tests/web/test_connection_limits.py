"""Header and body limits, read timeouts and the connection cap (web/connection_limits.py),
attacked through raw sockets against real ``tollhouse serve`` processes on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import NO_REQUEST_LIMITS, TOLLHOUSE, free_port, start_server, stop
from tests.web.raw_http import Connection, padding, request, status

SHORT = {"TOLLHOUSE_HEADER_TIMEOUT": "1", "TOLLHOUSE_BODY_TIMEOUT": "1"}
"""Read timeouts short enough to wait for in a test."""
CAP = 3


@dataclass
class Served:
    port: int
    cafile: Path | None = None
    pid: int = 0


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One process, plain HTTP, the default size limits and 1 s read timeouts."""
    port = free_port()
    process, _ = start_server(tmp_path_factory.mktemp("limits"), port, env=SHORT)
    try:
        yield Served(port, pid=process.pid)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    port = free_port()
    env = {"TOLLHOUSE_MAX_CONNECTIONS": str(CAP)}
    process, _ = start_server(tmp_path_factory.mktemp("capped"), port, env=env)
    try:
        yield Served(port)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def tls_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Built-in TLS (a self-signed certificate) and ``--workers 2``."""
    data_dir = tmp_path_factory.mktemp("tls")
    port = free_port()
    log = data_dir / "serve.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [TOLLHOUSE, "serve", "--port", str(port), "--data-dir", data_dir, "--workers", "2"],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **NO_REQUEST_LIMITS, **SHORT},
        )
    cafile = data_dir / "tls" / "localhost.crt"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                verify = ssl.create_default_context(cafile=cafile)
                if httpx.get(f"https://localhost:{port}/healthz", verify=verify).is_success:
                    break
            except (httpx.HTTPError, OSError, ssl.SSLError):
                time.sleep(0.2)
        else:
            pytest.fail(log.read_text())
        yield Served(port, cafile)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(20)


# 21.3: header size --------------------------------------------------------------------


@pytest.mark.parametrize("size", [64 * 1024, 1024 * 1024])
def test_an_oversized_header_block_gets_431_and_the_connection_closes(
    plain: Served, size: int
) -> None:
    with Connection(plain.port) as conn:
        head = request("/healthz", "X-Big: " + "a" * size)
        # The server answers from the first 16 KiB: it never waits for the rest.
        conn.send(head[: 32 * 1024])
        response = conn.response()
        assert status(response) == 431, response[:200]
        assert b"connection: close" in response.lower()
        conn.send(head[32 * 1024 :])
        assert conn.closed_within(5) is not None


def test_a_refused_connection_is_shut_for_sending_but_read_a_while(plain: Served) -> None:
    """Lingering close (RFC 9112 §9.6): closed while the client was still sending, the
    connection would answer the client's next bytes with a reset, which can destroy the
    refusal before the client reads it."""
    with Connection(plain.port) as conn:
        conn.send(request("/healthz", "X-Big: " + "a" * 64 * 1024))
        assert conn.status() == 431
        for _ in range(3):
            time.sleep(0.2)
            assert conn.send(b"a" * 1000)
        assert conn.closed_within(5) is not None


def peak_memory(pid: int) -> int:
    """The process's peak resident set (VmHWM), bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_ten_connections_sending_8_mib_headers_cost_the_server_no_memory(
    plain: Served,
) -> None:
    """The reported attack, at 8 MiB a header: the server reads little of each."""
    before = peak_memory(plain.pid)
    head = request("/healthz", "X-Big: " + "a" * 8 * 1024 * 1024)
    connections = [Connection(plain.port) for _ in range(10)]
    try:
        senders = [threading.Thread(target=conn.send, args=(head,)) for conn in connections]
        for sender in senders:
            sender.start()
        assert [conn.status() for conn in connections] == [431] * 10
        for sender in senders:
            sender.join(10)
    finally:
        for conn in connections:
            conn.sock.close()
    assert peak_memory(plain.pid) - before < 16 * 1024 * 1024


def test_an_unfinished_header_block_over_the_limit_is_refused_before_it_ends(
    plain: Served,
) -> None:
    """No ``\\r\\n\\r\\n`` ever comes: the answer cannot be waiting for one."""
    with Connection(plain.port) as conn:
        conn.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Endless: " + b"a" * 20_000)
        assert conn.status() == 431


def test_many_headers_of_8_kib_in_all_are_served(plain: Served) -> None:
    with Connection(plain.port) as conn:
        assert conn.send(request("/healthz", *padding(8 * 1024)))
        assert conn.status() == 200
        # The connection stays usable for the next request (keep-alive).
        assert conn.send(request("/healthz", *padding(15 * 1024)))
        assert conn.status() == 200


def test_a_request_line_over_the_limit_gets_414(plain: Served) -> None:
    with Connection(plain.port) as conn:
        conn.send(request("/healthz?q=" + "a" * 20_000))
        assert conn.status() == 414


def test_header_blocks_are_counted_per_request_on_a_kept_alive_connection(
    plain: Served,
) -> None:
    """Ten 12 KiB header blocks on one connection: each is under the limit."""
    with Connection(plain.port) as conn:
        for _ in range(10):
            assert conn.send(request("/healthz", *padding(12 * 1024)))
            assert conn.status() == 200


def test_pipelined_requests_with_bodies_keep_their_framing(plain: Served) -> None:
    """A body holding ``\\r\\n\\r\\n`` and a chunked body do not end a header block early,
    nor hide the next request's headers."""
    body = b"grant_type=x&pad=" + b"\r\n\r\n" * 10
    chunked = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n"
    stream = (
        request("/token", f"Content-Length: {len(body)}", method="POST")
        + body
        + request("/token", "Transfer-Encoding: chunked", method="POST")
        + chunked
        + request("/healthz")
    )
    with Connection(plain.port) as conn:
        assert conn.send(stream)
        whole = [conn.status() for _ in range(3)]
        # The same bytes over many small writes.
        for start in range(0, len(stream), 7):
            assert conn.send(stream[start : start + 7])
        pieces = [conn.status() for _ in range(3)]
    for statuses in (whole, pieces):
        assert statuses[0] in (400, 401) and statuses[1] in (400, 401), statuses
        assert statuses[2] == 200


def test_a_declared_body_over_1_mib_gets_413_before_it_is_sent(plain: Served) -> None:
    with Connection(plain.port) as conn:
        conn.send(request("/token", "Content-Length: 2000000", method="POST"))
        response = conn.response()
        assert status(response) == 413
        assert conn.closed_within(5) is not None


def test_a_chunked_body_over_1_mib_is_cut_off(plain: Served) -> None:
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"a" * 64 * 1024)
    with Connection(plain.port) as conn:
        conn.send(request("/token", "Transfer-Encoding: chunked", method="POST"))
        for _ in range(20):
            if not conn.send(chunk):
                break
        assert conn.closed_within(5) is not None


def test_ambiguous_body_framing_gets_400(plain: Served) -> None:
    """RFC 9112 §6.3: both lengths, or a transfer coding that does not end in chunked."""
    for headers in (
        ("Content-Length: 5", "Transfer-Encoding: chunked"),
        ("Content-Length: 5", "Content-Length: 6"),
        ("Transfer-Encoding: gzip",),
        ("Content-Length: 5x",),
    ):
        with Connection(plain.port) as conn:
            conn.send(request("/token", *headers, method="POST") + b"hello")
            assert conn.status() == 400, headers


# 21.4: slow clients ---------------------------------------------------------------------


def test_a_connection_that_sends_nothing_is_closed(plain: Served) -> None:
    with Connection(plain.port) as conn:
        assert conn.closed_within(4) is not None


def test_half_a_header_block_is_answered_408_and_closed(plain: Served) -> None:
    with Connection(plain.port) as conn:
        conn.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ")
        started = time.monotonic()
        response = conn.response(4)
        assert status(response) == 408
        assert 0.5 < time.monotonic() - started < 4
        assert conn.closed_within(2) is not None


def test_a_header_block_sent_a_byte_at_a_time_does_not_extend_the_deadline(
    plain: Served,
) -> None:
    """Slowloris: every byte is fresh activity, but the deadline runs from the first."""
    head = request("/healthz", *padding(200))
    with Connection(plain.port) as conn:
        started = time.monotonic()
        for byte in head:
            if not conn.send(bytes([byte])) or time.monotonic() - started > 5:
                break
            time.sleep(0.1)
        assert time.monotonic() - started < 4


def test_a_body_that_stops_midway_is_closed(plain: Served) -> None:
    with Connection(plain.port) as conn:
        conn.send(request("/token", "Content-Length: 100", method="POST") + b"grant_type=")
        assert conn.closed_within(4) is not None


def test_a_body_that_keeps_coming_within_the_idle_timeout_is_read(plain: Served) -> None:
    """The body timeout is idleness between reads, not a deadline for the whole body."""
    body = b"grant_type=client_credentials"
    with Connection(plain.port) as conn:
        conn.send(request("/token", f"Content-Length: {len(body)}", method="POST"))
        for start in range(0, len(body), 6):
            time.sleep(0.4)
            assert conn.send(body[start : start + 6])
        assert conn.status() in (400, 401)


def test_an_idle_kept_alive_connection_is_closed(plain: Served) -> None:
    with Connection(plain.port) as conn:
        conn.send(request("/healthz"))
        assert conn.status() == 200
        assert conn.closed_within(8) is not None


# 21.4: the connection cap ---------------------------------------------------------------


def test_beyond_the_cap_new_connections_get_503_while_the_others_are_served(
    capped: Served,
) -> None:
    held = [Connection(capped.port) for _ in range(CAP)]
    try:
        for conn in held:
            assert conn.send(request("/healthz"))
            assert conn.status() == 200
        with Connection(capped.port) as extra:
            extra.send(request("/healthz"))
            response = extra.response()
            assert status(response) == 503
            assert b"retry-after:" in response.lower()
            assert extra.closed_within(5) is not None
        for conn in held:  # the connections under the cap keep being served
            assert conn.send(request("/healthz"))
            assert conn.status() == 200
        held.pop().sock.close()
        for _ in range(50):  # the server sees the close soon after
            with Connection(capped.port) as again:
                again.send(request("/healthz"))
                if again.status() == 200:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("a connection freed under the cap was not given to a new client")
    finally:
        for conn in held:
            conn.sock.close()


def test_upgrade_requests_do_not_leave_the_cap_counting_closed_connections(
    capped: Served,
) -> None:
    """Tollhouse serves no WebSocket: an upgrade request is an ordinary request, and its
    connection, once closed, no longer counts towards the cap."""
    upgrade = request(
        "/healthz",
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    )
    for _ in range(CAP + 2):
        with Connection(capped.port) as conn:
            conn.send(upgrade)
            assert conn.status() != 101
    time.sleep(0.5)
    with Connection(capped.port) as conn:
        conn.send(request("/healthz"))
        assert conn.status() == 200


def test_the_cap_leaves_keep_alive_clients_alone(capped: Served) -> None:
    """As many keep-alive connections as the cap, many requests each: all served."""
    with httpx.Client(
        base_url=f"http://127.0.0.1:{capped.port}",
        limits=httpx.Limits(max_connections=CAP, max_keepalive_connections=CAP),
    ) as http:
        for _ in range(300):
            assert http.get("/healthz").status_code == 200


# The same protocol behind built-in TLS and --workers ------------------------------------


def test_tls_and_workers_refuse_oversized_headers(tls_workers: Served) -> None:
    for _ in range(4):  # connections land on either worker
        with Connection(tls_workers.port, tls_workers.cafile) as conn:
            conn.send(request("/healthz", "X-Big: " + "a" * 64 * 1024))
            assert conn.status() == 431
        with Connection(tls_workers.port, tls_workers.cafile) as conn:
            assert conn.send(request("/healthz", *padding(8 * 1024)))
            assert conn.status() == 200


def test_tls_and_workers_close_half_sent_header_blocks(tls_workers: Served) -> None:
    with Connection(tls_workers.port, tls_workers.cafile) as conn:
        conn.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        assert conn.status(4) == 408
