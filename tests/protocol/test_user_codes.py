"""RFC 8628 §6.1 user codes: what is generated, and what a person may type."""

from __future__ import annotations

import pytest

from tollhouse.protocol import user_codes


def test_generated_codes_are_eight_letters_of_the_alphabet_in_two_halves() -> None:
    codes = {user_codes.generate() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == 9 and code[4] == "-"
        assert set(code.replace("-", "")) <= set(user_codes.ALPHABET)


def test_the_alphabet_has_no_vowels_so_no_words() -> None:
    assert len(user_codes.ALPHABET) == len(set(user_codes.ALPHABET)) == 20
    assert not set("AEIOUY") & set(user_codes.ALPHABET)


@pytest.mark.parametrize(
    "typed",
    ["BCDF-GHJK", "bcdf-ghjk", "BCDFGHJK", "  bcdfghjk ", "Bcdf Ghjk", "bcdf-GHJK\t"],
)
def test_typed_in_any_case_with_or_without_the_dash(typed: str) -> None:
    assert user_codes.normalize(typed) == "BCDFGHJK"


@pytest.mark.parametrize(
    "typed", [None, "", "BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF_GHJK", "BCDF-GH1K", "x" * 65]
)
def test_anything_else_is_no_code(typed: str | None) -> None:
    assert user_codes.normalize(typed) is None
