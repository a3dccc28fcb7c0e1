"""``tollhouse serve --metrics-port N``: a second listener that serves only ``/metrics``.

Like the management ports of Keycloak and Hydra, it keeps the counters off the public
listener without a token: it answers every caller that reaches it, so it is bound
where only the scraper can (``--metrics-host``, a port the Service or firewall does
not expose). Plain HTTP: it carries no credentials.

It runs in a thread of the ``serve`` process, on a socket bound before "Listening on"
is printed. With one process that process holds the values; with ``--workers N`` the
``serve`` process is the supervisor, and :func:`~tollhouse.observability.metrics.
exposition` sums the files every worker writes (prometheus_client's multiprocess
mode). Either way one listener answers for all, and a replaced worker does not take
it down.

Each connection gets a thread, at most :data:`MAX_CONNECTIONS` at once (more are
closed at once) and :data:`READ_TIMEOUT` seconds to send its request, so slow or many
clients cannot pile up threads.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tollhouse.observability import metrics

PATH = "/metrics"
MAX_CONNECTIONS = 8
READ_TIMEOUT = 5.0


class _Handler(BaseHTTPRequestHandler):
    timeout = READ_TIMEOUT  # StreamRequestHandler sets it on the connection

    def do_GET(self) -> None:
        if self.path.partition("?")[0] != PATH:
            self._answer(404, b"Not found: this listener serves /metrics only.\n")
            return
        body, content_type = metrics.exposition()
        self._answer(200, body, content_type)

    def do_HEAD(self) -> None:
        self.do_GET()

    def _not_allowed(self) -> None:
        self._answer(405, b"Method not allowed: use GET.\n", allow="GET, HEAD")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def _answer(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        allow: str | None = None,
    ) -> None:
        self.send_response_only(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if allow:
            self.send_header("Allow", allow)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged: they would drown the access log every few seconds."""


class MetricsServer(ThreadingHTTPServer):
    """The listener on a socket bound beforehand; a thread per connection, capped."""

    daemon_threads = True

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()  # the one the base class made; ours is bound and listening
        self.socket = sock
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def bind_metrics_socket(host: str, port: int, backlog: int = 64) -> socket.socket:
    """The listener's socket, bound and listening; raises OSError (address in use …)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def serve_metrics(sock: socket.socket) -> MetricsServer:
    """Serve ``/metrics`` on ``sock`` from a daemon thread (it ends with the process)."""
    server = MetricsServer(sock)
    thread = threading.Thread(target=server.serve_forever, name="tollhouse-metrics", daemon=True)
    thread.start()
    return server
