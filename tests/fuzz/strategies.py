"""Hypothesis strategies for hostile text: deep nesting and lone surrogates (issue 21).

Python's ``json`` parser recurses once per nesting level and raises ``RecursionError``
past about a thousand; a lone surrogate (U+D800-U+DFFF unpaired) is a ``str`` that no
UTF-8 encoder writes. Both reached code that expected ``ValueError``. Over HTTP a lone
surrogate travels as a JSON escape (``"\\ud800"``) or as the bytes a lenient encoder
would write for it (``ED A0 80``, which strict UTF-8 decoding refuses); a JOSE segment
carries either inside base64url.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from hypothesis import strategies as st

DEPTHS = st.sampled_from([2, 100, 999, 1_000, 1_001, 1_500, 3_000, 20_000])
"""Around Python's default recursion limit (1,000) and well past it."""
TOKEN_DEPTHS = st.sampled_from([1_000, 1_001, 1_500])
"""Past the recursion limit, and short enough for a 4,096-character parameter once
nested arrays (two octets a level) are base64url-encoded."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@st.composite
def nested_json(draw: st.DrawFn, depths: st.SearchStrategy[int] = DEPTHS) -> str:
    """Deeply nested JSON text: arrays, objects, a mix, or an unclosed run."""
    depth = draw(depths)
    shape = draw(st.sampled_from(["array", "object", "mixed", "unclosed"]))
    if shape == "array":
        return "[" * depth + "]" * depth
    if shape == "object":
        return '{"a":' * depth + "1" + "}" * depth
    if shape == "mixed":
        return '[{"a":' * (depth // 2) + "1" + "}]" * (depth // 2)
    return "[" * depth


lone_surrogate = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
"""One unpaired UTF-16 surrogate code point."""


@st.composite
def with_lone_surrogate(draw: st.DrawFn) -> str:
    """Text with a lone surrogate somewhere in it (a ``str`` no encoder writes)."""
    before = draw(st.text(max_size=6))
    after = draw(st.text(max_size=6))
    return before + draw(lone_surrogate) + after


def surrogate_escape(text: str) -> str:
    """JSON text for ``text`` with every surrogate as a ``\\uXXXX`` escape (ASCII)."""
    return json.dumps(text, ensure_ascii=True)


def nested_token(depth: int, *, closed: bool = True, in_header: bool = True) -> str:
    """A compact JWS whose JOSE header (or payload) is ``depth`` nested arrays."""
    nested = b64url(("[" * depth + ("]" * depth if closed else "")).encode())
    signature = b64url(bytes(64))
    return (
        f"{nested}.e30.{signature}" if in_header else f"eyJhbGciOiJFUzI1NiJ9.{nested}.{signature}"
    )


nested_header_token = st.builds(
    nested_token,
    TOKEN_DEPTHS,
    closed=st.sampled_from([True, True, False]),
    in_header=st.sampled_from([True, True, False]),
)
"""Compact JWS strings with deeply nested JSON, mostly in the header (read first)."""


@st.composite
def surrogate_header_token(draw: st.DrawFn) -> str:
    """A compact JWS whose header decodes to JSON escaping a lone surrogate, or to the
    bytes a lenient encoder writes for one."""
    text = draw(with_lone_surrogate())
    if draw(st.booleans()):
        header = ('{"alg":"ES256","kid":' + surrogate_escape(text) + "}").encode()
    else:
        header = ('{"alg":"ES256","kid":"' + text + '"}').encode("utf-8", "surrogatepass")
    return f"{b64url(header)}.e30.{b64url(bytes(64))}"


hostile_tokens = st.one_of(nested_header_token, surrogate_header_token())
"""Compact JWS strings (ASCII: they travel in headers and forms) built to crash a parser."""

hostile_values = st.one_of(
    nested_header_token,
    surrogate_header_token(),
    nested_json(TOKEN_DEPTHS),
    with_lone_surrogate().map(surrogate_escape),
)
"""Parameter values: hostile tokens, deep JSON, JSON-escaped lone surrogates. Form
encoding with ``surrogatepass`` (see :func:`form_body`) adds the raw bytes."""

hostile_python_tokens = st.one_of(
    hostile_tokens,
    with_lone_surrogate(),
    st.tuples(hostile_tokens, lone_surrogate).map("".join),
)
"""What a Python caller may pass: lone surrogates in the ``str`` itself included."""


def form_body(pairs: list[tuple[str, str]]) -> bytes:
    """``application/x-www-form-urlencoded`` of ``pairs``; a lone surrogate becomes the
    percent-encoded bytes a lenient UTF-8 encoder writes for it."""
    return "&".join(
        f"{quote(k.encode('utf-8', 'surrogatepass'))}={quote(v.encode('utf-8', 'surrogatepass'))}"
        for k, v in pairs
    ).encode("ascii")


@st.composite
def hostile_json_object(draw: st.DrawFn, names: list[str], base: dict[str, object]) -> bytes:
    """A JSON object body: ``base`` (valid, so validation reads on) with one to three
    members made hostile (nested JSON, lone surrogates as escapes, hostile tokens), or
    a whole body of nested JSON."""
    if draw(st.integers(0, 5)) == 0:
        return draw(nested_json()).encode()
    members = {name: json.dumps(value) for name, value in base.items()}
    for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
        kind = draw(st.sampled_from(["nested", "surrogate", "surrogate", "in_list", "token"]))
        if kind == "nested":
            members[name] = draw(nested_json())
        elif kind == "surrogate":
            members[name] = surrogate_escape(draw(with_lone_surrogate()))
        elif kind == "in_list":
            members[name] = "[" + surrogate_escape(draw(with_lone_surrogate())) + "]"
        else:
            members[name] = json.dumps(draw(hostile_tokens))
    return ("{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in members.items()) + "}").encode()
