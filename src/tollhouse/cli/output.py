"""How the admin commands print: ISO 8601 times, ``key: value`` records, rich tables.

Machine-readable output is ``--json`` (:func:`tollhouse.cli.context.echo_json`); what
is here is for people. Cell values are rich ``Text``, never markup, so a value such as
``http://[::1]:8080/cb`` prints as given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import NoReturn

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

_PIPE_WIDTH = 200
"""Width used when stdout is not a terminal: tables are not folded for scripts' sake."""


def iso_utc(timestamp: int) -> str:
    """``2026-01-31T12:00:00Z`` for a NumericDate."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_utc_or_none(timestamp: int | None) -> str | None:
    return None if timestamp is None else iso_utc(timestamp)


def echo_record(fields: Sequence[tuple[str, str | None]]) -> None:
    """One ``key: value`` line per field; a missing value prints as ``-``."""
    for key, value in fields:
        click.echo(f"{key}: {'-' if value is None else value}")


def echo_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A table whose first column (the identifier) is never folded."""
    materialised = [list(row) for row in rows]
    table = Table(*columns, header_style="bold")
    first = table.columns[0]
    first.no_wrap = True
    first.min_width = max((len(row[0]) for row in materialised), default=0)
    for column in table.columns[1:]:
        column.overflow = "fold"
    for row in materialised:
        table.add_row(*(Text(cell) for cell in row))
    console = Console()
    if not console.is_terminal:
        console = Console(width=_PIPE_WIDTH)
    console.print(table)


def note(message: str) -> None:
    """An informational line on stderr (keeps stdout clean for pipes)."""
    click.echo(message, err=True)


def usage_error(message: str) -> NoReturn:
    """Exit 2: the arguments are wrong (the contract's usage-error exit code)."""
    raise click.UsageError(message, ctx=click.get_current_context(silent=True))
