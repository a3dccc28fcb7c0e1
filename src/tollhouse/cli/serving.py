"""The serving configuration a running ``tollhouse serve`` records for admin commands.

The issuer a server answers as follows from its flags (``--issuer``, ``--host``,
``--port``, ``--insecure-http``), which admin commands run later do not repeat. So
``serve`` writes them, once its socket is bound, to ``<data-dir>/serving.json`` (mode
0600, replaced atomically), and admin commands on the same data directory and database
take from it every setting that neither a flag nor a ``TOLLHOUSE_*`` variable gives:
``doctor`` checks the issuer tokens carry, ``token inspect`` expects it, and ``apis
create`` accepts an http loopback issuer set in the environment.

A file, not a database row: it needs no schema change and is readable before the
database is opened. Admin commands on another machine (a shared PostgreSQL) do not see
it and take ``--issuer`` / ``TOLLHOUSE_ISSUER`` as before. The record names its
database by a digest, so a file left from a server on another database is ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from tollhouse.config import Settings

FILE_NAME = "serving.json"
RECORDED = ("issuer", "host", "port", "insecure_http", "tls_cert", "tls_key")
"""Settings that decide the issuer and how it is served; nothing secret."""


def _digest(database_url: str) -> str:
    return hashlib.sha256(database_url.encode()).hexdigest()


def record(settings: Settings) -> Path:
    """Write what ``settings`` serves as, for admin commands (module docstring)."""
    values: dict[str, Any] = {}
    for name in RECORDED:
        value = getattr(settings, name)
        if isinstance(value, Path):
            value = str(value.resolve())
        values[name] = value
    body = {"settings": values, "database": _digest(settings.database_url), "pid": os.getpid()}
    path = settings.data_dir / FILE_NAME
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{FILE_NAME}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(body, handle)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def recorded(data_dir: Path, database_url: str) -> dict[str, Any]:
    """The settings the last ``serve`` on ``data_dir`` and ``database_url`` recorded;
    empty if there is none (or it is unreadable: the defaults then stand)."""
    try:
        body = json.loads((data_dir / FILE_NAME).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(body, dict) or body.get("database") != _digest(database_url):
        return {}
    values = body.get("settings")
    if not isinstance(values, dict):
        return {}
    return {name: values[name] for name in RECORDED if values.get(name) is not None}
