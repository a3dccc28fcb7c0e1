"""Where the access log's bytes go (observability/access_log.py): a file of its own, or
the process's stderr, each written without ever waiting for a reader.

A sink's ``write`` takes whole lines and returns how many bytes it wrote; it raises
``BlockingIOError`` when the destination takes nothing now (a full pipe), or another
``OSError``. ``atomic`` is the largest write another process writing to the same
destination cannot split: ``PIPE_BUF`` for pipes and sockets (POSIX ``write(2)``), any
size for a file opened ``O_APPEND``. With ``--workers N`` every worker writes the same
stderr, so a batch longer than that is written in several writes of whole lines.

Making stderr non-blocking must not change the descriptor shared with other writers
(the other log lines, the supervisor, a terminal): ``O_NONBLOCK`` is a flag of the open
file description, which ``dup`` shares. So a pipe or terminal is opened again through
``/proc/self/fd/2`` (a description of our own), and a socket (journald's stream) is
sent to with ``MSG_DONTWAIT`` (a flag of the call). A regular file never makes a writer
wait for a reader. Where none of that is possible (no ``/proc``) writes block, as every
log line does.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import stat
from pathlib import Path
from typing import Protocol, TextIO

log = logging.getLogger("tollhouse.error")

PIPE_BUF = select.PIPE_BUF
FILE_WRITE = 1 << 20
"""Largest write to a file: one per batch, bounded so a backlog leaves in steps."""
FILE_MODE = 0o600
"""Mode of an access log file Tollhouse creates: it holds client addresses."""


class Sink(Protocol):
    atomic: int

    def write(self, data: memoryview) -> int: ...

    def reopen(self) -> None: ...

    def close(self) -> None: ...


class DescriptorSink:
    """Writes to a descriptor as it is (blocking or not); closes it only if ``owned``."""

    def __init__(self, fd: int, atomic: int, *, owned: bool) -> None:
        self.fd = fd
        self.atomic = atomic
        self.owned = owned

    def write(self, data: memoryview) -> int:
        return os.write(self.fd, data)

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        if self.owned:
            os.close(self.fd)
            self.owned = False


class FileSink(DescriptorSink):
    """Appends to ``path`` (``O_APPEND``: each write lands whole at the end, whatever other
    processes append); :meth:`reopen` opens the path again, for logrotate."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(self._open(), FILE_WRITE, owned=True)

    def _open(self) -> int:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        return os.open(self.path, flags, FILE_MODE)

    def reopen(self) -> None:
        try:
            fd = self._open()
        except OSError as error:
            # Lines keep going to the file as it was (moved, not lost); the next SIGHUP
            # tries again.
            log.warning(
                "cannot reopen the access log", extra={"path": str(self.path), "reason": str(error)}
            )
            return
        old, self.fd = self.fd, fd
        os.close(old)


class SocketSink:
    """Sends on a stream socket (journald) without waiting: ``MSG_DONTWAIT``."""

    atomic = PIPE_BUF

    def __init__(self, fd: int) -> None:
        self.socket = socket.socket(fileno=os.dup(fd))

    def write(self, data: memoryview) -> int:
        return self.socket.send(data, socket.MSG_DONTWAIT)

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        self.socket.close()


class StreamSink:
    """A text stream with no descriptor (an embedding application's replaced stderr)."""

    atomic = PIPE_BUF

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, data: memoryview) -> int:
        self.stream.write(bytes(data).decode())
        self.stream.flush()
        return len(data)

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        pass


def stderr_sink(stream: TextIO) -> Sink:
    """``stream`` (the process's stderr) as a sink that never waits for its reader."""
    try:
        fd = stream.fileno()
        kind = os.fstat(fd).st_mode
    except (OSError, ValueError, AttributeError):
        return StreamSink(stream)
    stream.flush()  # what was written before goes first
    if stat.S_ISREG(kind):
        return DescriptorSink(fd, PIPE_BUF, owned=False)
    if stat.S_ISSOCK(kind):
        return SocketSink(fd)
    own = _own_description(fd)
    if own is None:
        return DescriptorSink(fd, PIPE_BUF, owned=False)
    return DescriptorSink(own, PIPE_BUF, owned=True)


def _own_description(fd: int) -> int | None:
    """A non-blocking descriptor of ``fd``'s pipe or terminal with an open file description
    of its own (Linux ``/proc``), or None."""
    flags = os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    try:
        own = os.open(f"/proc/self/fd/{fd}", flags)
    except OSError:
        return None
    theirs, ours = os.fstat(fd), os.fstat(own)
    if (theirs.st_dev, theirs.st_ino) != (ours.st_dev, ours.st_ino):
        os.close(own)
        return None
    return own
