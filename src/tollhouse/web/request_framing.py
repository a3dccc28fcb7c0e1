"""Where each request's header block and body end, in the bytes a connection receives.

uvicorn's HTTP/1.1 parser (httptools) puts no bound on a header block: it keeps what
it is given until the block ends. :class:`RequestFraming` watches the same bytes before
they reach it, to bound each header block and to tell a connection waiting for headers
from one waiting for a body (their read timeouts differ, web/connection_limits.py).

It finds the end of a header block (``\\r\\n\\r\\n``) and, from the block's
``Content-Length`` or ``Transfer-Encoding: chunked`` (RFC 9112 §6), where the body ends
and the next request begins (keep-alive, pipelining). That is all it parses: the request
line and fields are the parser's. Framing it cannot read unambiguously is refused,
as RFC 9112 §6.3 allows: both lengths, two different lengths, a transfer coding that
does not end in ``chunked``. Where this and the parser could still differ, this reads
bytes as header rather than body, so a header block is never let through unbounded.
"""

from __future__ import annotations

import re

BETWEEN, HEADERS, BODY = 0, 1, 2
"""What a connection is waiting for (:attr:`RequestFraming.phase`): the next request,
the rest of a header block (or of chunked trailers), the rest of a body."""

OK = 0
BAD_REQUEST = 400
CONTENT_TOO_LARGE = 413
URI_TOO_LONG = 414
HEADERS_TOO_LARGE = 431

_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _TRAILERS = range(5)  # _HEAD is 0: tested as false
_END_OF_BLOCK = b"\r\n\r\n"
_END_OF_LINE = b"\r\n"
_FRAMING = re.compile(rb"\r\n(content-length|transfer-encoding):([^\r\n]*)", re.IGNORECASE)
_HEX_DIGITS = b"0123456789abcdef"
_MAX_DIGITS = 15


class _TooLong(Exception):
    def __init__(self, seen: bytes) -> None:
        self.seen = seen


class RequestFraming:
    """The framing of the requests on one connection, fed what it receives.

    :meth:`feed` answers 0, or the status to refuse the connection with: 414 or 431
    when a request line or header block passes ``max_head`` bytes, 413 when a body
    passes ``max_body``, 400 when the body's framing cannot be read."""

    __slots__ = (
        "_body",
        "_left",
        "_max_body",
        "_max_head",
        "_partial",
        "_state",
        "phase",
        "requests",
    )

    def __init__(self, max_head: int, max_body: int) -> None:
        self._max_head = max_head
        self._max_body = max_body
        self._state = _HEAD
        self._partial = bytearray()
        """The unfinished header block, chunk-size line or trailers received so far."""
        self._left = 0
        """Bytes of the body (or of the chunk and its CRLF) still to come."""
        self._body = 0
        """Bytes of chunk data in the current body."""
        self.phase = BETWEEN
        self.requests = 0
        """Header blocks completed on this connection."""

    def feed(self, data: bytes) -> int:
        if not self._state and not self._partial:  # _HEAD, nothing pending
            # The usual chunk: a whole header block first, maybe its whole body after.
            end = data.find(_END_OF_BLOCK, 0, self._max_head)
            if end >= 0:
                self.requests += 1
                fields = _FRAMING.findall(data, 0, end)
                stop = end + 4
                if not fields and stop == len(data):
                    self.phase = BETWEEN
                    return OK
                refusal = self._body_after(fields)
                if refusal:
                    return refusal
                if self._state == _LENGTH and self._left == len(data) - stop:
                    self._state, self._left, self.phase = _HEAD, 0, BETWEEN
                    return OK
                return self._feed(data, stop)
        return self._feed(data, 0)

    def _feed(self, data: bytes, pos: int) -> int:
        size = len(data)
        try:
            while pos < size:
                state = self._state
                if state in (_LENGTH, _CHUNK_DATA):
                    taken = min(self._left, size - pos)
                    pos += taken
                    self._left -= taken
                    if not self._left:
                        self._state = _HEAD if state == _LENGTH else _CHUNK_SIZE
                    continue
                mark = _END_OF_LINE if state == _CHUNK_SIZE else _END_OF_BLOCK
                unit, pos = self._until(data, pos, mark)
                if unit is None:
                    break
                refusal = self._completed(state, unit)
                if refusal:
                    return refusal
        except _TooLong as exc:
            if self._state == _CHUNK_SIZE:
                return BAD_REQUEST
            request_line = self._state == _HEAD and _END_OF_LINE not in exc.seen
            return URI_TOO_LONG if request_line else HEADERS_TOO_LARGE
        state = self._state
        if state == _HEAD:
            self.phase = HEADERS if self._partial else BETWEEN
        else:
            self.phase = HEADERS if state == _TRAILERS else BODY
        return OK

    def _until(self, data: bytes, pos: int, mark: bytes) -> tuple[bytes | None, int]:
        """The unit (header block, chunk-size line, trailers) ending with ``mark`` and
        where ``data`` goes on after it; (None, end of data) while it has not ended."""
        limit = self._max_head
        partial = self._partial
        if not partial:
            end = data.find(mark, pos, pos + limit)
            if end >= 0:
                stop = end + len(mark)
                return data[pos:stop], stop
            if len(data) - pos >= limit:
                raise _TooLong(data[pos : pos + limit])
            partial += data[pos:]
            return None, len(data)
        old = len(partial)
        partial += memoryview(data)[pos : pos + limit - old]
        end = partial.find(mark, max(0, old - len(mark) + 1))
        if end < 0:
            if len(partial) >= limit:
                raise _TooLong(bytes(partial))
            return None, len(data)
        stop = end + len(mark)
        unit = bytes(partial[:stop])
        partial.clear()
        return unit, pos + stop - old

    def _completed(self, state: int, unit: bytes) -> int:
        if state == _HEAD:
            self.requests += 1
            return self._body_after(_FRAMING.findall(unit, 0, len(unit) - 4))
        if state == _TRAILERS:
            self._state = _HEAD
            return OK
        return self._chunk_size(unit)

    def _body_after(self, fields: list[tuple[bytes, bytes]]) -> int:
        """The body a header block announces by its framing ``fields`` (name, value)."""
        if not fields:
            return OK
        if len(fields) > 1:
            return BAD_REQUEST
        name, value = fields[0]
        value = value.strip(b" \t")
        if len(name) == len(b"content-length"):
            if not value.isdigit() or len(value) > _MAX_DIGITS:
                return BAD_REQUEST
            left = int(value)
            if left > self._max_body:
                return CONTENT_TOO_LARGE
            if left:
                self._state, self._left = _LENGTH, left
            return OK
        if value.rsplit(b",", 1)[-1].strip(b" \t").lower() != b"chunked":
            return BAD_REQUEST
        self._state, self._body = _CHUNK_SIZE, 0
        return OK

    def _chunk_size(self, line: bytes) -> int:
        """RFC 9112 §7.1: ``chunk-size [ chunk-ext ] CRLF``."""
        digits = line[:-2].split(b";", 1)[0].strip(b" \t").lower()
        if not digits or len(digits) > _MAX_DIGITS or digits.translate(None, _HEX_DIGITS):
            return BAD_REQUEST
        size = int(digits, 16)
        if not size:
            # The last chunk: trailers follow, ending like a header block. Their
            # search starts on this line's own CRLF, so no trailers is CRLF CRLF.
            self._state = _TRAILERS
            self._partial += _END_OF_LINE
            return OK
        self._body += size
        if self._body > self._max_body:
            return CONTENT_TOO_LARGE
        self._state, self._left = _CHUNK_DATA, size + 2
        return OK
