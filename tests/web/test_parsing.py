"""Form bodies of the raw ASGI endpoints: the same pairs as the standard library's
parser, and the same limits whether the body comes in one message or many."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tollhouse.errors import InvalidRequest
from tollhouse.web.parsing import MAX_BODY_BYTES, MAX_FIELDS, decode_form, scope_form

FORM_ALPHABET = st.sampled_from([*"ab=&+%;é\x00 ", "%41", "%2", "%C3%A9", "%ff", "%zz"])


def reference(text: str) -> list[tuple[str, str]] | type[Exception]:
    try:
        return parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)
    except ValueError as exc:
        return type(exc)


def ours(text: str) -> list[tuple[str, str]] | type[Exception]:
    try:
        return decode_form(text)
    except ValueError as exc:
        return type(exc)


@settings(max_examples=500)
@given(st.lists(FORM_ALPHABET, max_size=40).map("".join))
def test_decode_form_is_parse_qsl(text: str) -> None:
    assert ours(text) == reference(text)


@pytest.mark.parametrize("fields", [MAX_FIELDS - 1, MAX_FIELDS, MAX_FIELDS + 1])
def test_decode_form_field_limit_is_parse_qsl(fields: int) -> None:
    text = "&".join(f"p{i}=v" for i in range(fields))
    assert ours(text) == reference(text)
    assert (ours(text) is ValueError) == (fields > MAX_FIELDS)


def test_decode_form_unescapes_like_a_browser() -> None:
    assert decode_form("a=x+y%2By&b=%C3%A9&c=&d") == [
        ("a", "x y+y"),
        ("b", "é"),
        ("c", ""),
        ("d", ""),
    ]


def run_form(messages: list[dict[str, object]], length: int | None = None) -> dict[str, str]:
    headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    queue = list(messages)

    async def receive() -> dict[str, object]:
        return queue.pop(0)

    return asyncio.run(scope_form({"type": "http", "headers": headers}, receive))


def chunk(body: bytes, more: bool) -> dict[str, object]:
    return {"type": "http.request", "body": body, "more_body": more}


def test_one_message_and_many_give_the_same_form() -> None:
    whole = b"grant_type=client_credentials&scope=a+b"
    assert run_form([chunk(whole, False)], len(whole)) == run_form(
        [chunk(whole[:7], True), chunk(whole[7:20], True), chunk(whole[20:], False)]
    )
    assert run_form([chunk(whole, False)]) == {"grant_type": "client_credentials", "scope": "a b"}


@pytest.mark.parametrize(
    "messages",
    [
        [chunk(b"a" * (MAX_BODY_BYTES + 1), False)],
        [chunk(b"a" * MAX_BODY_BYTES, True), chunk(b"a", False)],
    ],
)
def test_a_body_past_the_limit_is_refused_however_it_comes(
    messages: list[dict[str, object]],
) -> None:
    with pytest.raises(InvalidRequest, match="too large"):
        run_form(messages)


def test_a_declared_length_past_the_limit_is_refused_before_reading() -> None:
    with pytest.raises(InvalidRequest, match="too large"):
        run_form([], MAX_BODY_BYTES + 1)


def test_a_client_that_leaves_mid_body_is_a_bad_request() -> None:
    with pytest.raises(InvalidRequest, match="went away"):
        run_form([chunk(b"a=1", True), {"type": "http.disconnect"}])
    with pytest.raises(InvalidRequest, match="went away"):
        run_form([{"type": "http.disconnect"}])
