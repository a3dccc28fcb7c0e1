from __future__ import annotations

import pytest

from tollhouse.errors import InvalidRequest, InvalidTarget
from tollhouse.protocol.requests import single_valued


def test_parameters_must_not_repeat() -> None:
    with pytest.raises(InvalidRequest, match="more than once"):
        single_valued([("code", "a"), ("code", "b")])


def test_repeated_resource_is_invalid_target() -> None:
    with pytest.raises(InvalidTarget):
        single_valued([("resource", "https://a.test"), ("resource", "https://b.test")])


def test_empty_values_count_as_omitted() -> None:
    assert single_valued([("state", ""), ("code", "x")]) == {"code": "x"}


def test_nul_characters_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        single_valued([("state", "a\x00b")])
