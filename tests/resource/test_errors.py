"""RFC 6750 §3 error attributes: only %x20-21 / %x23-5B / %x5D-7E reach the challenge."""

from __future__ import annotations

from tollhouse.resource.errors import invalid_token

ALLOWED = {chr(c) for c in range(0x20, 0x7F)} - {'"', "\\"}


def test_every_character_outside_the_allowed_set_is_replaced() -> None:
    for code in range(0x2FF):
        char = chr(code)
        for text in (char, f"The token {char} is bad.", char * 3):
            error = invalid_token(text)
            expected = "".join(c if c in ALLOWED else "?" for c in text)
            assert error.description == expected
            assert f'error_description="{expected}"' in error.www_authenticate


def test_a_plain_description_is_kept_whole() -> None:
    text = "The token was signed with an unknown key (kid)."
    assert invalid_token(text).description == text
