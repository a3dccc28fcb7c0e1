"""web/request_framing.py: the ends of header blocks and bodies, checked against uvicorn's
own parser (httptools) on generated streams of pipelined requests cut anywhere."""

from __future__ import annotations

import httptools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tollhouse.web.request_framing import (
    BAD_REQUEST,
    BETWEEN,
    BODY,
    CONTENT_TOO_LARGE,
    HEADERS,
    HEADERS_TOO_LARGE,
    OK,
    URI_TOO_LONG,
    RequestFraming,
)

LIMIT = 1024


def framing(max_body: int = 4096) -> RequestFraming:
    return RequestFraming(LIMIT, max_body)


def head(target: bytes = b"/", *fields: bytes, method: bytes = b"GET") -> bytes:
    return b"\r\n".join([method + b" " + target + b" HTTP/1.1", b"Host: x", *fields]) + b"\r\n\r\n"


def fed(data: bytes, *, at_once: bool = True, max_body: int = 4096) -> tuple[int, RequestFraming]:
    watched = framing(max_body)
    pieces = [data] if at_once else [data[i : i + 1] for i in range(len(data))]
    for piece in pieces:
        status = watched.feed(piece)
        if status:
            return status, watched
    return OK, watched


@pytest.mark.parametrize("at_once", [True, False])
def test_a_header_block_of_exactly_the_limit_passes_and_one_byte_more_is_431(
    at_once: bool,
) -> None:
    base = head(b"/", b"X-Pad: ")
    exact = head(b"/", b"X-Pad: " + b"a" * (LIMIT - len(base)))
    assert len(exact) == LIMIT
    assert fed(exact, at_once=at_once)[0] == OK
    over = head(b"/", b"X-Pad: " + b"a" * (LIMIT - len(base) + 1))
    assert fed(over, at_once=at_once)[0] == HEADERS_TOO_LARGE


@pytest.mark.parametrize("at_once", [True, False])
def test_a_request_line_alone_over_the_limit_is_414(at_once: bool) -> None:
    assert fed(b"GET /" + b"a" * LIMIT, at_once=at_once)[0] == URI_TOO_LONG


def test_the_limit_applies_to_each_header_block_not_the_connection() -> None:
    block = head(b"/", b"X-Pad: " + b"a" * (LIMIT - 60))
    status, watched = fed(block * 20)
    assert (status, watched.requests, watched.phase) == (OK, 20, BETWEEN)


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ((b"Content-Length: 4097",), CONTENT_TOO_LARGE),
        ((b"Content-Length: 99999999999999999999",), BAD_REQUEST),
        ((b"Content-Length: 5", b"Transfer-Encoding: chunked"), BAD_REQUEST),
        ((b"Content-Length: 5", b"content-length: 5"), BAD_REQUEST),
        ((b"Transfer-Encoding: chunked, gzip",), BAD_REQUEST),
        ((b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"), BAD_REQUEST),
        ((b"Content-Length: -1",), BAD_REQUEST),
        ((b"Content-Length: 0x10",), BAD_REQUEST),
    ],
)
def test_body_framing_too_large_or_ambiguous_is_refused(
    fields: tuple[bytes, ...], status: int
) -> None:
    assert fed(head(b"/", *fields, method=b"POST"))[0] == status


def test_a_chunked_body_is_bounded_and_its_sizes_must_be_hex() -> None:
    start = head(b"/", b"Transfer-Encoding: chunked", method=b"POST")
    assert fed(start + b"1001\r\n")[0] == CONTENT_TOO_LARGE
    assert fed(start + b"800\r\n" + b"a" * 0x800 + b"\r\n801\r\n")[0] == CONTENT_TOO_LARGE
    assert fed(start + b"zz\r\n")[0] == BAD_REQUEST
    assert fed(start + b"0" * 2000)[0] == BAD_REQUEST
    assert fed(start + b"0\r\n" + b"X-Trailer: " + b"a" * LIMIT)[0] == HEADERS_TOO_LARGE


def test_phases_follow_the_request() -> None:
    watched = framing()
    assert watched.phase == BETWEEN
    watched.feed(b"POST / HTTP/1.1\r\nContent-Length: 4\r\n")
    assert watched.phase == HEADERS
    watched.feed(b"\r\nab")
    assert watched.phase == BODY
    watched.feed(b"cd")
    assert (watched.phase, watched.requests) == (BETWEEN, 1)


# Differential: the same bytes through httptools ---------------------------------------


class Parsed:
    """httptools' view: messages begun, header blocks ended, messages ended."""

    def __init__(self) -> None:
        self.begun = self.heads = self.done = 0

    def on_message_begin(self) -> None:
        self.begun += 1

    def on_headers_complete(self) -> None:
        self.heads += 1

    def on_message_complete(self) -> None:
        self.done += 1


body_bytes = st.binary(max_size=300).map(lambda b: b.replace(b"x", b"\r\n\r\n"))
field_case = st.sampled_from([str.lower, str.upper, str.title])


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["none", "length", "chunked"]))
    fields = [b"Host: x"] + [
        b"X-F%d: %s" % (i, b"v" * draw(st.integers(0, 40))) for i in range(draw(st.integers(0, 4)))
    ]
    body = b""
    if kind == "length":
        body = draw(body_bytes)
        name = draw(field_case)("content-length").encode()
        spaces = b" " * draw(st.integers(0, 2))
        fields.append(name + b":" + spaces + str(len(body)).encode() + spaces)
    elif kind == "chunked":
        fields.append(draw(field_case)("transfer-encoding").encode() + b": chunked")
        for chunk in draw(st.lists(body_bytes.filter(bool), max_size=3)):
            ext = draw(st.sampled_from([b"", b";a=b", b";x"]))
            body += b"%x%s\r\n%s\r\n" % (len(chunk), ext, chunk)
        trailers = draw(st.sampled_from([b"", b"X-T: 1\r\n", b"X-T: 1\r\nX-U: 2\r\n"]))
        body += b"0\r\n" + trailers + b"\r\n"
    method = b"GET" if kind == "none" else b"POST"
    line = method + b" /" + b"p" * draw(st.integers(0, 50)) + b" HTTP/1.1"
    return b"\r\n".join([line, *fields]) + b"\r\n\r\n" + body


@settings(max_examples=300, deadline=None)
@given(st.lists(requests(), min_size=1, max_size=4), st.data())
def test_framing_agrees_with_httptools_wherever_the_stream_is_cut(
    stream: list[bytes], data: st.DataObject
) -> None:
    joined = b"".join(stream)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(joined) - 1)), max_size=8)))
    parsed = Parsed()
    parser = httptools.HttpRequestParser(parsed)
    watched = RequestFraming(64 * 1024, 64 * 1024)
    for start, stop in zip([0, *cuts], [*cuts, len(joined)], strict=True):
        piece = joined[start:stop]
        assert watched.feed(piece) == OK
        parser.feed_data(piece)
        assert watched.requests == parsed.heads
        assert (watched.phase == BETWEEN) == (parsed.begun == parsed.done)
        if watched.phase == BODY:
            assert parsed.heads > parsed.done
    assert (watched.requests, watched.phase) == (len(stream), BETWEEN)
