"""How long a client's fetched JWK Set is kept (RFC 9111 max-age, within bounds)."""

from __future__ import annotations

import pytest

from tollhouse.provider.client_keys import DEFAULT_TTL, MAX_TTL, MIN_TTL, cache_lifetime


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, DEFAULT_TTL),
        ("max-age=600", 600),
        ("public, max-age=3600, must-revalidate", 3600),
        ("max-age=5", MIN_TTL),
        ("max-age=99999999", MAX_TTL),
        ("no-store", MIN_TTL),
        ("no-cache, max-age=600", MIN_TTL),
        ("s-maxage=600", DEFAULT_TTL),
        ("max-age=abc", DEFAULT_TTL),
    ],
)
def test_cache_lifetime_follows_max_age_within_bounds(header: str | None, seconds: int) -> None:
    assert cache_lifetime(header) == seconds
