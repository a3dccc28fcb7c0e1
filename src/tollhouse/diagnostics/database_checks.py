"""Judging what was read from the database: schema revision, clock skew and, on
PostgreSQL, whether the tables the purge empties are vacuumed.

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


PURGED_TABLES = ("access_tokens", "refresh_tokens", "authorization_codes", "revocations")
"""The tables with the most rows deleted by the purge (tokens.md, "Housekeeping")."""


def check_autovacuum(server_on: bool, tables_off: list[str]) -> Finding:
    """PostgreSQL reuses the pages the purge frees only after a vacuum: without
    autovacuum the token tables grow on disk for ever, however many rows are purged."""
    if not server_on:
        return warning(
            "vacuum",
            "autovacuum is off on the PostgreSQL server: the token tables will grow on disk "
            "although expired rows are purged",
            "set autovacuum = on (PostgreSQL's default) in postgresql.conf, or run VACUUM "
            "on the token tables at least hourly",
        )
    if tables_off:
        return warning(
            "vacuum",
            f"autovacuum is switched off for {', '.join(tables_off)}: "
            "these tables will grow on disk although expired rows are purged",
            "ALTER TABLE … RESET (autovacuum_enabled) on each, or run VACUUM on them at "
            "least hourly",
        )
    return ok("vacuum", "autovacuum runs on the tables the purge empties")
