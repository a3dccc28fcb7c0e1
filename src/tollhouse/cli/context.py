"""How every command finds its state: the same settings as ``serve``."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import click

from tollhouse.cli.serving import recorded
from tollhouse.config import Settings, load_settings
from tollhouse.errors import ConfigError, Conflict, NotFound, StorageUnavailable
from tollhouse.storage.sql.files import restrict_to_owner
from tollhouse.storage.sql.storage import SqlStorage, open_storage

P = ParamSpec("P")
T = TypeVar("T")


def state_options(func: Callable[P, T]) -> Callable[P, T]:
    """``--data-dir`` and ``--database``, shared by every command."""
    func = click.option("--database", default=None, help="Database URL (env TOLLHOUSE_DATABASE).")(
        func
    )
    func = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Data directory (env TOLLHOUSE_DATA_DIR, default ./.tollhouse).",
    )(func)
    return func


def settings_from(data_dir: Path | None, database: str | None, **extra: Any) -> Settings:
    """An admin command's settings (:func:`admin_settings`); one line and exit 1 if bad."""
    try:
        return admin_settings(data_dir, database, **extra)
    except ConfigError as exc:
        fail(str(exc))


def serve_settings(data_dir: Path | None, database: str | None, **extra: Any) -> Settings:
    """``serve``'s settings: its flags, then ``TOLLHOUSE_*`` variables, then defaults."""
    try:
        return load_settings(data_dir=data_dir, database=database, **extra)
    except ConfigError as exc:
        fail(str(exc))


def secure_data_dir(settings: Settings) -> None:
    """The data directory (database, master key, TLS key) for its owner only: an existing
    one that others may list is tightened to 0700, with a warning."""
    restrict_to_owner(settings.data_dir)


def admin_settings(data_dir: Path | None, database: str | None, **extra: Any) -> Settings:
    """The settings of the server an admin command administers: its flags, then
    ``TOLLHOUSE_*`` variables, then what the running ``serve`` on the same data
    directory and database recorded (cli/serving.py), then defaults.

    Raises :class:`~tollhouse.errors.ConfigError` with one line."""
    given = {name: value for name, value in extra.items() if value is not None}
    env_dir = os.environ.get("TOLLHOUSE_DATA_DIR")
    where = Settings.model_construct(
        data_dir=data_dir or Path(env_dir or Settings.model_fields["data_dir"].default),
        database=database or os.environ.get("TOLLHOUSE_DATABASE") or None,
    )
    served = {
        name: value
        for name, value in recorded(where.data_dir, where.database_url).items()
        if name not in given and f"TOLLHOUSE_{name.upper()}" not in os.environ
    }
    return load_settings(data_dir=data_dir, database=database, **served, **given)


@asynccontextmanager
async def storage_for(settings: Settings) -> AsyncIterator[SqlStorage]:
    storage = await open_storage(settings.database_url)
    try:
        yield storage
    finally:
        await storage.close()


def fail(message: str) -> NoReturn:
    """Exit 1 with a one-line reason on stderr (the contract's failure exit code)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; known failures become exit code 1 with one line."""
    try:
        return asyncio.run(coro)
    except (ConfigError, NotFound, Conflict) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}".rstrip(": "))
    except StorageUnavailable as exc:
        fail(f"the database cannot be reached: {exc.debug or exc.description}")


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def async_command(func: Callable[P, Awaitable[T]]) -> Callable[P, T]:
    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return run(func(*args, **kwargs))  # type: ignore[arg-type]

    return wrapper
