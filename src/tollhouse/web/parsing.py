"""Turning HTTP requests into protocol parameters."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from tollhouse.errors import InvalidRequest
from tollhouse.protocol.requests import single_valued

MAX_BODY_BYTES = 64 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"


def query_parameters(request: Request) -> dict[str, str]:
    return _parse(request.scope.get("query_string", b""))


async def form_parameters(request: Request, *, require_form_type: bool = True) -> dict[str, str]:
    """Parse an ``application/x-www-form-urlencoded`` body (RFC 6749 §3.2, Appendix B)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if require_form_type and media_type != FORM_TYPE:
        raise InvalidRequest(f"The request body must be {FORM_TYPE}.")
    body = await read_body(request)
    return _parse(body)


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise InvalidRequest("The request body is too large.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise InvalidRequest("The request body is too large.")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(raw: bytes) -> dict[str, str]:
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The parameters are not valid UTF-8 form encoding.") from None
    return single_valued(pairs)
