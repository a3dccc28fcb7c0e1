"""The one way Tollhouse sends HTTP requests to URLs that came from outside.

:class:`SafeFetcher` sends one request through the :class:`~tollhouse.security.outbound.
OutboundGuard` and returns the answer, or raises :class:`~tollhouse.security.outbound.
OutboundRefused` (an internal target) or :class:`FetchFailed` (anything else that went
wrong). What it guarantees:

- The connection goes to an address the guard checked: the network backend under the
  HTTP client asks the guard for the host's addresses and connects to one of them,
  never resolving the name again. TLS still verifies the certificate against the host
  name from the URL (and sends it as SNI).
- No redirects (a 3xx is returned as it is), no proxies from the environment, no
  cookies, one connection per request.
- Bounded: connect time, total time and response size (:class:`FetchLimits`).

Usage (a client's ``jwks_uri``, for example)::

    fetcher = SafeFetcher(guard)
    answer = await fetcher.get(url, trusted=client_made_by_operator)
    if answer.status == 200: keys = json.loads(answer.body)
"""

from __future__ import annotations

import asyncio
import ssl
import typing
from collections.abc import Mapping
from dataclasses import dataclass

import httpcore
import httpx

from tollhouse.security.outbound import OutboundGuard, OutboundRefused

USER_AGENT = "Tollhouse"
MAX_ADDRESSES = 4
"""Addresses of one name tried in turn when connecting fails."""


@dataclass(frozen=True, slots=True)
class FetchLimits:
    connect_timeout: float = 3.0
    total_timeout: float = 10.0
    """The whole request: resolving, connecting, sending and reading the answer."""
    max_response_bytes: int = 64 * 1024


@dataclass(frozen=True, slots=True)
class Fetched:
    status: int
    headers: Mapping[str, str]
    """Lower-cased names."""
    body: bytes


class FetchFailed(Exception):
    """No usable answer: the name did not resolve, the connection or TLS failed, a
    limit was exceeded. ``reason`` is short and fit for a log line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the guard returned for the requested host (the
    signatures, ``timeout`` included, are httpcore's)."""

    def __init__(self, guard: OutboundGuard) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._guard.addresses(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from None
        failure: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses[:MAX_ADDRESSES]:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("Unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


_FAILURES = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpx.InvalidURL,
    httpx.UnsupportedProtocol,
    ssl.SSLError,
    OSError,
    TimeoutError,
    ValueError,
)


class SafeFetcher:
    def __init__(
        self,
        guard: OutboundGuard,
        limits: FetchLimits | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.guard = guard
        self.limits = limits or FetchLimits()
        self._ssl_context = ssl_context

    async def post_form(
        self,
        url: str,
        fields: Mapping[str, str],
        *,
        trusted: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Fetched:
        """POST ``application/x-www-form-urlencoded`` ``fields`` to ``url``.

        ``trusted``: an operator chose the URL (internal addresses allowed)."""
        return await self._send("POST", url, dict(fields), trusted, headers)

    async def get(
        self, url: str, *, trusted: bool = False, headers: Mapping[str, str] | None = None
    ) -> Fetched:
        return await self._send("GET", url, None, trusted, headers)

    async def _send(
        self,
        method: str,
        url: str,
        fields: dict[str, str] | None,
        trusted: bool,
        headers: Mapping[str, str] | None,
    ) -> Fetched:
        guard = self.guard.trusting() if trusted else self.guard
        try:
            async with asyncio.timeout(self.limits.total_timeout):
                request = self._request(method, url, fields, headers)
                return await self._exchange(guard, request)
        except _FAILURES as exc:
            raise FetchFailed(_describe(exc)) from None

    def _request(
        self,
        method: str,
        url: str,
        fields: dict[str, str] | None,
        headers: Mapping[str, str] | None,
    ) -> httpcore.Request:
        # httpx builds the request (the Host header, brackets and port included, the
        # form body); httpcore sends it over the checked connection.
        built = httpx.Request(
            method, url, data=fields, headers={"User-Agent": USER_AGENT, **(headers or {})}
        )
        timeout = self.limits.total_timeout
        return httpcore.Request(
            method=built.method,
            url=httpcore.URL(
                scheme=built.url.raw_scheme,
                host=built.url.raw_host,
                port=built.url.port,
                target=built.url.raw_path,
            ),
            headers=built.headers.raw,
            content=built.read(),
            extensions={
                "timeout": {
                    "connect": self.limits.connect_timeout,
                    "read": timeout,
                    "write": timeout,
                    "pool": timeout,
                }
            },
        )

    async def _exchange(self, guard: OutboundGuard, request: httpcore.Request) -> Fetched:
        async with httpcore.AsyncConnectionPool(
            ssl_context=self._tls() if request.url.scheme == b"https" else None,
            network_backend=_CheckedBackend(guard),
            max_connections=1,
            retries=0,
        ) as pool:
            response = await pool.handle_async_request(request)
            try:
                body = await self._read(response)
            finally:
                await response.aclose()
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in response.headers
        }
        return Fetched(response.status, headers, body)

    async def _read(self, response: httpcore.Response) -> bytes:
        limit = self.limits.max_response_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_stream():
            size += len(chunk)
            if size > limit:
                raise FetchFailed(f"the response is larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        return self._ssl_context


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
