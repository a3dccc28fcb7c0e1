"""Choosing the page locale (OIDC Core §3.1.2.1 ui_locales, RFC 9110 §12.5.4)."""

from __future__ import annotations

import pytest

from tollhouse.web.messages import Messages, negotiate


@pytest.mark.parametrize(
    ("ui_locales", "accept_language", "expected"),
    [
        (None, None, "en"),
        ("de", "en", "de"),
        ("fr-CA de-AT", None, "de"),
        ("fr", "de-DE,de;q=0.9", "de"),
        (None, "fr;q=1, de;q=0.5, en;q=0.7", "en"),
        (None, "de;q=0, en", "en"),
        (None, "DE-ch", "de"),
        (None, "*", "en"),
        (None, "de;q=oops", "en"),
    ],
)
def test_ui_locales_come_before_accept_language(
    ui_locales: str | None, accept_language: str | None, expected: str
) -> None:
    assert negotiate(ui_locales, accept_language) == expected


def test_wait_is_said_in_words() -> None:
    assert Messages("en").wait(1) == "1 second"
    assert Messages("en").wait(90) == "2 minutes"
    assert Messages("de").wait(60) == "1 Minute"


def test_api_scopes_are_described_by_their_api() -> None:
    described = Messages("en").scope("read_sensors", "Read sensor readings")
    assert described == "Read sensor readings"
    assert Messages("de").scope("email") == "Ihre E-Mail-Adresse sehen"
    assert Messages("en").scope("read_sensors") is None
