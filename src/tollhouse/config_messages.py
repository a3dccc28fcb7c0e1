"""One line saying which rule a setting broke and what it accepts, instead of
pydantic's text (the message ``tollhouse serve`` prints before it exits)."""

from __future__ import annotations

from pydantic_core import ErrorDetails

BOOLEAN_VALUES = "1, true, yes or 0, false, no"

_BOUNDS = {
    "greater_than": "more than",
    "greater_than_equal": "at least",
    "less_than": "less than",
    "less_than_equal": "at most",
}


def reason(field: str, error: ErrorDetails) -> str:
    """The rule a value broke, with the values accepted, instead of pydantic's text."""
    kind = error["type"]
    given = repr(error.get("input"))[:40]
    if kind == "bool_parsing":
        return f"{given} is not a boolean; use {BOOLEAN_VALUES}"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return f"{given} is not a whole number{_unit(field)}"
    if kind in ("float_parsing", "float_type"):
        return f"{given} is not a number{_unit(field)}"
    if kind in _BOUNDS:
        limit = next(iter(error.get("ctx", {}).values()), 0)
        return f"must be {_BOUNDS[kind]} {limit:g}, got {given}"
    if kind == "literal_error":
        return f"{given} is not accepted; use {error.get('ctx', {}).get('expected', '')}"
    return error["msg"].removeprefix("Value error, ")


def _unit(field: str) -> str:
    if field.endswith("_days"):
        return " of days"
    seconds = ("_ttl", "_interval", "_period", "_time", "_timeout")
    return " of seconds" if field.endswith(seconds) else ""
