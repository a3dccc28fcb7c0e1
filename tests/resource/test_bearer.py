"""RFC 6750 §2.1: which Authorization header values carry a token."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tollhouse.resource.bearer import is_b64token, presented_token
from tollhouse.resource.errors import TokenError

B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
"""The grammar of RFC 6750 §2.1, spelled as a regular expression."""


@given(st.text(alphabet=st.sampled_from('aZ09-._~+/= \t\x00é€:,"\\'), max_size=12) | st.text())
def test_b64token_is_the_rfc_6750_grammar(token: str) -> None:
    assert is_b64token(token) == (B64TOKEN.fullmatch(token) is not None)


@pytest.mark.parametrize("token", ["a.b.c", "abc==", "A-_~+/.9"])
def test_a_b64token_is_presented(token: str) -> None:
    assert presented_token([f"DPoP {token}"]) == ("dpop", token)


@pytest.mark.parametrize("token", ["=abc", "ab=c", "a b", "abc\u00e9", "a,b", "==="])
def test_anything_else_is_an_invalid_request(token: str) -> None:
    with pytest.raises(TokenError) as refused:
        presented_token([f"Bearer {token}"])
    assert refused.value.error == "invalid_request"
