"""``TOLLHOUSE_*`` variables nothing reads: a typo such as ``TOLLHOUSE_ACESS_TOKEN_TTL``
is otherwise silently ignored, so ``serve`` and ``doctor`` name it with the nearest
known name."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from tollhouse.config import ENV_PREFIX, Settings
from tollhouse.security.master_key import NEW_ENV_VAR

OTHER_VARIABLES = frozenset({NEW_ENV_VAR, "TOLLHOUSE_CHROMIUM", "TOLLHOUSE_LOGIN_CLIENT_SECRET"})
"""Variables read outside the settings: ``keys rewrap``'s new master key, the browser
the browser tests drive, and ``login --device``'s client secret."""
OTHER_PREFIXES = ("TOLLHOUSE_GATEWAY_", "TOLLHOUSE_TEST_", "TOLLHOUSE_BENCH_")
"""``tollhouse gateway``'s options, and the test suite's and benchmarks' own knobs."""


def known_variables() -> frozenset[str]:
    """Every ``TOLLHOUSE_*`` name Tollhouse reads outside its own prefixes."""
    return frozenset(ENV_PREFIX + name.upper() for name in Settings.model_fields) | OTHER_VARIABLES


def unknown_variables(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """``TOLLHOUSE_*`` variables nothing reads (a typo is otherwise silently ignored),
    each with the nearest known name, or None when none is close."""
    known = known_variables()
    # Compared without the prefix, which every name shares and would make all close.
    suffixes = {name.removeprefix(ENV_PREFIX): name for name in known}
    found: list[tuple[str, str | None]] = []
    for name in sorted(environ):
        upper = name.upper()  # pydantic-settings matches names in any case
        if not upper.startswith(ENV_PREFIX) or upper in known or upper.startswith(OTHER_PREFIXES):
            continue
        nearest = difflib.get_close_matches(upper.removeprefix(ENV_PREFIX), suffixes, 1, 0.7)
        found.append((name, suffixes[nearest[0]] if nearest else None))
    return found
