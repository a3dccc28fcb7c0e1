"""Where the access log's bytes go: stderr made non-blocking without touching the
descriptor others share, and a file created 0600, appended to, reopened for logrotate."""

from __future__ import annotations

import io
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tollhouse.observability.log_sinks import (
    PIPE_BUF,
    DescriptorSink,
    FileSink,
    SocketSink,
    StreamSink,
    stderr_sink,
)


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read, write = os.pipe()
    yield read, write
    os.close(read)
    os.close(write)


def fill(sink: DescriptorSink | SocketSink) -> None:
    """Write until the destination takes nothing more (bounded)."""
    for _ in range(100_000):
        sink.write(memoryview(b"x" * 1024))
    pytest.fail("the destination never filled up")


def test_a_pipe_gets_a_non_blocking_description_of_its_own(pipe: tuple[int, int]) -> None:
    read, write = pipe
    stream = open(write, "w", closefd=False)  # noqa: SIM115 (closed below)
    try:
        sink = stderr_sink(stream)
    finally:
        stream.close()
    assert isinstance(sink, DescriptorSink) and sink.owned and sink.fd != write
    assert sink.atomic == PIPE_BUF
    try:
        assert sink.write(memoryview(b"line\n")) == 5
        assert os.read(read, 100) == b"line\n"
        with pytest.raises(BlockingIOError):
            fill(sink)
        assert os.get_blocking(write)  # the shared descriptor is as it was
    finally:
        sink.close()


def test_a_socket_is_sent_to_without_waiting() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        stream = open(ours.fileno(), "w", closefd=False)  # noqa: SIM115 (closed below)
        try:
            sink = stderr_sink(stream)
        finally:
            stream.close()
        assert isinstance(sink, SocketSink)
        try:
            sink.write(memoryview(b"line\n"))
            assert theirs.recv(100) == b"line\n"
            with pytest.raises(BlockingIOError):
                fill(sink)
            assert ours.getblocking()
        finally:
            sink.close()


def test_a_regular_file_is_written_as_it_is(tmp_path: Path) -> None:
    with (tmp_path / "stderr").open("w") as stream:
        sink = stderr_sink(stream)
        assert isinstance(sink, DescriptorSink)
        assert sink.fd == stream.fileno() and not sink.owned


def test_a_stream_without_a_descriptor_is_written_through() -> None:
    stream = io.StringIO()
    sink = stderr_sink(stream)
    assert isinstance(sink, StreamSink)
    sink.write(memoryview(b"line\n"))
    assert stream.getvalue() == "line\n"


def test_an_access_log_file_is_created_for_its_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        sink = FileSink(tmp_path / "access.log")
    finally:
        os.umask(old)
    sink.close()
    assert stat.S_IMODE((tmp_path / "access.log").stat().st_mode) == 0o600


def test_an_existing_file_is_appended_to_and_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text("before\n")
    path.chmod(0o640)  # logrotate's "create 0640"
    sink = FileSink(path)
    sink.write(memoryview(b"after\n"))
    sink.close()
    assert path.read_text() == "before\nafter\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_reopening_follows_the_path_after_a_rotation(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    sink = FileSink(path)
    sink.write(memoryview(b"one\n"))
    path.rename(tmp_path / "access.log.1")
    sink.write(memoryview(b"two\n"))  # until reopened, the moved file
    sink.reopen()
    sink.write(memoryview(b"three\n"))
    sink.close()
    assert (tmp_path / "access.log.1").read_text() == "one\ntwo\n"
    assert path.read_text() == "three\n"


def test_a_file_that_cannot_be_reopened_keeps_the_old_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    sink = FileSink(logs / "access.log")
    (logs / "access.log").rename(tmp_path / "moved.log")
    logs.rmdir()
    sink.reopen()
    sink.write(memoryview(b"kept\n"))
    sink.close()
    assert (tmp_path / "moved.log").read_text() == "kept\n"
    assert any(record.msg == "cannot reopen the access log" for record in caplog.records)
