"""Turning HTTP requests into protocol parameters.

Two doors onto the same rules: Starlette ``Request`` objects (pages, registration) and
raw ASGI ``scope``/``receive`` (the machine-to-machine endpoints in ``web/fast_lane.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import unquote

from starlette.requests import Request
from starlette.types import Message, Receive, Scope

from tollhouse.errors import InvalidRequest
from tollhouse.protocol.requests import DpopRequest, single_valued

MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 100
FORM_TYPE = "application/x-www-form-urlencoded"


def query_parameters(request: Request) -> dict[str, str]:
    return parse_form(request.scope.get("query_string", b""))


async def form_parameters(request: Request, *, require_form_type: bool = True) -> dict[str, str]:
    """Parse an ``application/x-www-form-urlencoded`` body (RFC 6749 §3.2, Appendix B)."""
    if require_form_type:
        check_form_type(request.headers.get("content-type"))
    return parse_form(await read_body(request))


async def read_body(request: Request) -> bytes:
    return await _bounded_body(request.headers.get("content-length"), request.stream())


def header(scope: Scope, name: bytes) -> str | None:
    """The first ``name`` header (lower-case bytes) of a raw ASGI request."""
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


async def scope_form(scope: Scope, receive: Receive) -> dict[str, str]:
    """:func:`form_parameters` for a raw ASGI request."""
    check_form_type(header(scope, b"content-type"))
    declared = header(scope, b"content-length")
    _check_declared(declared)
    first = await receive()
    if first["type"] == "http.request" and not first.get("more_body", False):
        # The whole body in one message: what every small form is.
        body: bytes = first.get("body", b"")
        if len(body) > MAX_BODY_BYTES:
            raise _too_large()
    else:
        body = await _bounded_body(declared, _chunks(receive, first))
    return parse_form(body)


def check_form_type(content_type: str | None) -> None:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        raise InvalidRequest(f"The request body must be {FORM_TYPE}.")


async def _chunks(receive: Receive, first: Message | None = None) -> AsyncIterator[bytes]:
    message = first
    while True:
        if message is None:
            message = await receive()
        if message["type"] != "http.request":
            raise InvalidRequest("The client went away before sending the whole body.")
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
        message = None


def _too_large() -> InvalidRequest:
    return InvalidRequest("The request body is too large.")


def _check_declared(declared: str | None) -> None:
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise _too_large()


async def _bounded_body(declared: str | None, chunks: AsyncIterator[bytes]) -> bytes:
    _check_declared(declared)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        parts.append(chunk)
    return b"".join(parts)


def parse_form(raw: bytes) -> dict[str, str]:
    try:
        pairs = decode_form(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The parameters are not valid UTF-8 form encoding.") from None
    return single_valued(pairs)


def decode_form(text: str) -> list[tuple[str, str]]:
    """``application/x-www-form-urlencoded`` pairs, as ``urllib.parse.parse_qsl(text,
    keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)`` gives them
    (a property test holds the two equal), without its per-field costs: names and values
    without ``%`` or ``+`` are taken as they are. ``ValueError`` (``UnicodeDecodeError``
    included) on too many fields or a percent-escape that is not UTF-8."""
    if text.count("&") >= MAX_FIELDS:
        raise ValueError("Max number of fields exceeded")
    pairs: list[tuple[str, str]] = []
    for field in text.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        pairs.append((_unescape(name), _unescape(value)))
    return pairs


def _unescape(text: str) -> str:
    if "%" in text or "+" in text:
        return unquote(text.replace("+", " "), errors="strict")
    return text


def dpop_request(scope: Scope, url: str) -> DpopRequest | None:
    """Every ``DPoP`` header (RFC 9449 §4.3 step 1 wants exactly one), the method and
    the URL a proof must name: built from the issuer's public URL, never from the
    ``Host`` a client or proxy sent."""
    values = tuple(v.decode("latin-1") for k, v in scope["headers"] if k == b"dpop")
    if not values:
        return None
    return DpopRequest(values, scope["method"], url)
