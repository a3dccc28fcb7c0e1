"""Raw-socket HTTP/1.1 for tests that need what an HTTP client library will not send:
oversized or unfinished header blocks, bodies that stop midway, connections held open."""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path
from types import TracebackType


class Connection:
    """A connection to 127.0.0.1; responses are read from a buffer, so pipelined ones
    arriving together are each read whole."""

    def __init__(self, port: int, cafile: Path | None = None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if cafile is not None:
            context = ssl.create_default_context(cafile=cafile)
            sock = context.wrap_socket(sock, server_hostname="localhost")
        self.sock = sock
        self.buffer = b""

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.sock.close()

    def send(self, data: bytes) -> bool:
        """Send ``data``; False if the server closed the connection first."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            return False
        return True

    def response(self, timeout: float = 5.0) -> bytes:
        """The next response, head and ``content-length`` body; what came of it when
        the server closed or went quiet for ``timeout`` seconds (b"" for nothing)."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buffer:
            if not self._more(deadline):
                return self._take(len(self.buffer))
        head, _, _ = self.buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        size = len(head) + 4 + length
        while len(self.buffer) < size and self._more(deadline):
            pass
        return self._take(size)

    def status(self, timeout: float = 5.0) -> int:
        """The next response's status code; 0 when none came."""
        return status(self.response(timeout))

    def closed_within(self, seconds: float) -> float | None:
        """Seconds until the server closes the connection (what it sends first is
        dropped), or None if it is still open after ``seconds``."""
        start = time.monotonic()
        deadline = start + seconds
        self.buffer = b""
        while self._more(deadline):
            self.buffer = b""
        if time.monotonic() >= deadline:
            return None
        return time.monotonic() - start

    def _more(self, deadline: float) -> bool:
        """Read what comes before ``deadline``; False on close or at the deadline."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            return False
        except (ConnectionResetError, ssl.SSLError):
            chunk = b""
        self.buffer += chunk
        return bool(chunk)

    def _take(self, size: int) -> bytes:
        taken, self.buffer = self.buffer[:size], self.buffer[size:]
        return taken


def status(response: bytes) -> int:
    """A response's status code; 0 for no response."""
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.") else 0


def request(path: str = "/healthz", *headers: str, method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode()


def padding(size: int, name: str = "X-Padding") -> list[str]:
    """Header lines of about ``size`` bytes in all, none longer than 1 KiB."""
    lines, left, index = [], size, 0
    while left > 0:
        value = "a" * max(1, min(1000, left - len(name) - 8))
        lines.append(f"{name}-{index}: {value}")
        left -= len(lines[-1]) + 2
        index += 1
    return lines
