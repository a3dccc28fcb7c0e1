"""The master key that encrypts private signing keys at rest (AES-256-GCM, RFC 5116).

It comes from ``TOLLHOUSE_MASTER_KEY`` (base64 of 32 bytes) or from the file
``<data-dir>/master.key`` (base64 text, mode 0600), created on first start when neither
exists. Several instances share it through the env var or the same file. No error
message ever contains the key or the value it was parsed from.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from tollhouse.errors import ConfigError
from tollhouse.security.secretbox import KEY_SIZE

ENV_VAR = "TOLLHOUSE_MASTER_KEY"
NEW_ENV_VAR = "TOLLHOUSE_NEW_MASTER_KEY"
"""Read only by ``tollhouse keys rewrap``: the master key to switch to."""
FILE_NAME = "master.key"
_LOOSE_BITS = stat.S_IRWXG | stat.S_IRWXO


@dataclass(frozen=True, slots=True)
class MasterKey:
    key: bytes = field(repr=False)
    source: str
    """``"env"`` or the path of the key file."""
    created: bool
    """True when this call generated the key file."""


def load_master_key(env_value: str | None, data_dir: Path) -> MasterKey:
    """The master key from ``env_value`` if given, else from (or into) the key file."""
    if env_value is not None:
        return MasterKey(key=_decode(env_value, ENV_VAR), source="env", created=False)
    path = data_dir / FILE_NAME
    key = _read(path)
    if key is not None:
        return MasterKey(key=key, source=str(path), created=False)
    created = _create(path)
    key = _read(path)
    if key is None:  # deleted between our link and our read: nothing sane to do
        raise ConfigError(f"master key file {path} vanished while being created")
    return MasterKey(key=key, source=str(path), created=created)


def load_new_master_key(path: Path | None, env_value: str | None) -> bytes:
    """The key ``tollhouse keys rewrap`` re-encrypts the signing keys under: the file
    ``path`` (base64 text, owner-only, like ``master.key``) or ``NEW_ENV_VAR``."""
    if path is not None:
        key = _read(path)
        if key is None:
            raise ConfigError(f"new master key file {path} does not exist")
        return key
    if env_value is not None:
        return _decode(env_value, NEW_ENV_VAR)
    raise ConfigError(f"give the new master key with --new-master-key-file or {NEW_ENV_VAR}")


def _decode(value: str, where: str) -> bytes:
    text = value.strip()
    if not text:
        raise ConfigError(f"{where} is empty; expected base64 of {KEY_SIZE} random bytes")
    padded = text + "=" * (-len(text) % 4)
    raw: bytes | None = None
    for altchars in (None, b"-_"):
        try:
            raw = base64.b64decode(padded, altchars=altchars, validate=True)
            break
        except (binascii.Error, ValueError):
            continue
    if raw is None:
        raise ConfigError(f"{where} is not valid base64; expected base64 of {KEY_SIZE} bytes")
    if len(raw) != KEY_SIZE:
        raise ConfigError(
            f"{where} decodes to {len(raw)} bytes; expected {KEY_SIZE} "
            f'(generate one with: python -c "import os,base64;'
            f'print(base64.b64encode(os.urandom({KEY_SIZE})).decode())")'
        )
    return raw


def _read(path: Path) -> bytes | None:
    """The key in ``path``, None if there is no such file; ConfigError if unsafe or bad."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot open master key file {path}: {_why(exc)}") from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if os.name == "posix" and mode & _LOOSE_BITS:
            raise ConfigError(
                f"master key file {path} has mode {stat.S_IMODE(mode):04o}; "
                f"it must be readable by its owner only (chmod 600 {path})"
            )
        data = handle.read(4096)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ConfigError(f"master key file {path} is not base64 text") from None
    return _decode(text, f"master key file {path}")


def _create(path: Path) -> bool:
    """Write a fresh key to ``path`` atomically; False if another process won the race.

    The key is written to a private temporary file (``O_CREAT | O_EXCL``, mode 0600),
    flushed, then hard-linked to its final name: ``link`` fails if the name exists, so
    the file is never seen half-written and exactly one writer wins.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create data directory {path.parent}: {_why(exc)}") from None
    text = base64.b64encode(secrets.token_bytes(KEY_SIZE)) + b"\n"
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, 0o600)
        try:
            os.write(fd, text)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        _fsync_dir(path.parent)
        return True
    except OSError as exc:
        raise ConfigError(f"cannot create master key file {path}: {_why(exc)}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
