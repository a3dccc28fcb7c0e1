"""``tollhouse migrate``: bring the database schema to the current version."""

from __future__ import annotations

from pathlib import Path

import click

from tollhouse.cli.context import run, settings_from, state_options
from tollhouse.storage.sql.migrate import migrate as run_migrations


@click.command()
@state_options
def migrate(data_dir: Path | None, database: str | None) -> None:
    """Apply database migrations (serve also does this on start)."""
    settings = settings_from(data_dir, database)
    run(run_migrations(settings.database_url))
    click.echo("database is up to date")
