"""Judging what was read from the database: schema revision and clock skew.

Tokens carry ``iat``/``nbf``/``exp`` from this machine's clock while codes, sessions and
revocations expire by the same clock against rows other instances wrote: instances
whose clocks disagree with each other (the database server is the common reference)
mint tokens that look expired or not yet valid elsewhere (RFC 7519 §4.1.4 allows "some
small leeway, usually no more than a few minutes").
"""

from __future__ import annotations

from tollhouse.diagnostics.findings import Finding, error, ok, warning

CLOCK_WARNING_SKEW = 2.0
CLOCK_ERROR_SKEW = 30.0
"""The default leeway of :class:`tollhouse.resource.TokenValidator`: beyond it, fresh
tokens are refused by resource servers whose clock agrees with the database."""


def check_revision(current: str | None, head: str) -> Finding:
    if current is None:
        return error(
            "database",
            "the database has no schema (no alembic_version)",
            "run `tollhouse migrate` (or start `tollhouse serve`, which migrates)",
        )
    if current != head:
        return error(
            "database",
            f"the schema is at revision {current}, not at head {head}",
            "run `tollhouse migrate` (this version of Tollhouse expects head)",
        )
    return ok("database", f"reachable and migrated to head ({head})")


def check_clock(skew: float, reference: str) -> Finding:
    """``skew`` = reference clock minus this machine's, in seconds."""
    amount = abs(skew)
    direction = "ahead of" if skew > 0 else "behind"
    what = f"{reference} is {amount:.1f} s {direction} this machine"
    if amount > CLOCK_ERROR_SKEW:
        return error(
            "clock",
            f"{what}: tokens minted here look expired or not yet valid elsewhere",
            "synchronise both clocks with NTP (timedatectl set-ntp true / chrony)",
        )
    if amount > CLOCK_WARNING_SKEW:
        return warning(
            "clock",
            what,
            "synchronise both clocks with NTP (timedatectl set-ntp true / chrony)",
        )
    return ok("clock", f"this machine and {reference} agree within {amount:.1f} s")
