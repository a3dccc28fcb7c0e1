"""Permissions of a SQLite database: its owner's only, as ``master.key`` is.

The file holds client secret digests, session and token hashes, and the sealed signing
keys; its ``-wal`` and ``-shm`` companions hold recent pages of it. A new file is
created 0600 before SQLite opens it (SQLite gives ``-wal`` and ``-shm`` the mode of the
database file), in a directory created 0700. Files of an existing install that others
may read are tightened at every open, with a warning, so an upgrade fixes them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700
COMPANIONS = ("-wal", "-shm", "-journal")


def restrict_to_owner(path: Path) -> bool:
    """Remove the group and other permission bits of ``path``, if it exists and has any;
    True when it changed. A path owned by someone else is left as it is (logged)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return False
    if not mode & 0o077:
        return False
    try:
        path.chmod(mode & 0o700)
    except PermissionError:
        log.warning("%s can be read by others (mode %03o) and is not ours to change", path, mode)
        return False
    log.warning("tightened %s from mode %03o to %03o (owner only)", path, mode, mode & 0o700)
    return True


def prepare_sqlite_file(path: Path) -> None:
    """Create ``path`` (and its directory) for its owner only, or tighten what exists."""
    path.parent.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    # An empty file is an empty database to SQLite; an existing one is kept.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for file in (path, *(path.with_name(path.name + suffix) for suffix in COMPANIONS)):
        restrict_to_owner(file)
