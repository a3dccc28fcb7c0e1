"""Client identifiers: generated ones never read as options; an operator's follow the
rules of ``clients create --client-id``."""

from __future__ import annotations

import pytest

from tollhouse.protocol import client_ids

DRAWS = 20_000
"""Without the rule, about 600 of these would start with '-' or '_' (1 in 32)."""


def test_generated_ids_start_with_a_letter_or_digit() -> None:
    ids = [client_ids.generate() for _ in range(DRAWS)]

    assert len(set(ids)) == DRAWS
    for client_id in ids:
        assert client_id[0].isascii() and client_id[0].isalnum(), client_id
        assert len(client_id) == 22  # 128 bits, base64url without padding
        assert client_ids.check_chosen(client_id) == client_id


def test_generated_ids_still_use_the_whole_alphabet_after_the_first_character() -> None:
    seen = {char for _ in range(2_000) for char in client_ids.generate()[1:]}

    assert {"-", "_"} <= seen
    assert len(seen) == 64


@pytest.mark.parametrize("client_id", ["GRID_001", "a-1", "grid.monitor-2", "9" * 64, "A.b"])
def test_operator_ids_of_letters_digits_dot_underscore_dash(client_id: str) -> None:
    assert client_ids.check_chosen(client_id) == client_id


@pytest.mark.parametrize(
    ("client_id", "rule"),
    [
        ("ab", "3-64"),
        ("", "3-64"),
        ("x" * 65, "3-64"),
        ("grid 001", "only letters, digits"),
        ("grid/001", "only letters, digits"),
        ("grïd001", "only letters, digits"),
        ("grid001\n", "only letters, digits"),
        ("-grid", "start with a letter or a digit"),
        ("_grid", "start with a letter or a digit"),
        (".grid", "start with a letter or a digit"),
    ],
)
def test_operator_ids_outside_the_rules_are_refused_naming_the_rule(
    client_id: str, rule: str
) -> None:
    with pytest.raises(ValueError, match=rule):
        client_ids.check_chosen(client_id)
