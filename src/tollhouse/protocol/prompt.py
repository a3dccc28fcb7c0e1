"""OpenID Connect Core §3.1.2.1 authentication request parameters that say when the
user must sign in again: ``prompt`` and ``max_age``."""

from __future__ import annotations

from tollhouse.errors import InvalidRequest

PROMPT_VALUES = frozenset({"none", "login", "consent", "select_account"})


def parse_prompt(value: str | None) -> tuple[str, ...]:
    """OpenID Connect Core §3.1.2.1: space-delimited; ``none`` stands alone."""
    if value is None:
        return ()
    values = tuple(dict.fromkeys(v for v in value.split(" ") if v))
    unknown = [v for v in values if v not in PROMPT_VALUES]
    if unknown:
        raise InvalidRequest(f"Unsupported prompt value {unknown[0]!r}.")
    if "none" in values and len(values) > 1:
        raise InvalidRequest("prompt=none cannot be combined with other values.")
    return values


def parse_max_age(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 10:
        raise InvalidRequest("max_age must be a non-negative integer number of seconds.")
    return int(value)
