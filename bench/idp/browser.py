"""A minimal HTTP/1.1 browser for load generation: one keep-alive connection to
127.0.0.1 and a cookie jar of its own.

Hundreds of simulated browsers in one driver process must cost the driver far less
than they cost the server, or the driver measures itself: an ``httpx`` client per
browser spends milliseconds of CPU per request. This one writes each request with one
``write`` and reads the answer by its ``Content-Length`` (or chunked framing), which is
all a Tollhouse page or redirect needs.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    """Lower-case names; a repeated field keeps its last value (Set-Cookie is applied
    to the jar as it is read)."""
    body: str
    url: str


@dataclass
class Browser:
    host: str
    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None

    @classmethod
    def for_base(cls, base: str) -> Browser:
        parts = urlsplit(base)
        return cls(parts.hostname or "127.0.0.1", parts.port or 80)

    async def get(self, target: str, params: dict[str, str] | None = None) -> Answer:
        if params:
            target = f"{target}?{urlencode(params)}"
        return await self.request("GET", target, b"")

    async def post(self, target: str, data: dict[str, str]) -> Answer:
        return await self.request("POST", target, urlencode(data).encode())

    async def request(self, method: str, target: str, body: bytes) -> Answer:
        """One exchange, reconnecting once if the kept-alive connection was closed."""
        target = urlsplit(target)._replace(scheme="", netloc="").geturl() or "/"
        for attempt in (1, 2):
            try:
                return await self._exchange(method, target, body)
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, method: str, target: str, body: bytes) -> Answer:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if method == "POST":
            lines += ["Content-Type: application/x-www-form-urlencoded"]
        lines.append(f"Content-Length: {len(body)}")
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in head[1:]:
            if ":" not in line:
                continue
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
            if name.strip().lower() == "set-cookie":
                self._keep_cookie(value)
        payload = await self._body(headers)
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Answer(status, headers, payload.decode("utf-8", "replace"), target)

    async def _body(self, headers: dict[str, str]) -> bytes:
        assert self._reader is not None
        if "content-length" in headers:
            return await self._reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() != "chunked":
            return b""
        chunks = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunks.append(await self._reader.readexactly(size + 2))
            if size == 0:
                return b"".join(chunks)

    def _keep_cookie(self, value: str) -> None:
        pair, _, attributes = value.partition(";")
        name, _, content = pair.strip().partition("=")
        if not content or "max-age=0" in attributes.lower().replace(" ", ""):
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = content

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
