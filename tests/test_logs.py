"""``logs.configure``: the log level decides whether access lines are written, and the
access log goes to the file it names."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tollhouse.logs import configure
from tollhouse.observability.access_log import ACCESS_LOG, DEFAULT_BUFFER_BYTES


@pytest.fixture(autouse=True)
def restored() -> Iterator[None]:
    """The process's logging and access log writer as they were."""
    root = logging.getLogger("tollhouse")
    handlers, level, propagate = root.handlers[:], root.level, root.propagate
    yield
    ACCESS_LOG.configure(None, enabled=False, buffer_bytes=DEFAULT_BUFFER_BYTES)
    root.handlers[:], root.level, root.propagate = handlers, level, propagate


@pytest.mark.parametrize(
    ("level", "enabled"), [("debug", True), ("info", True), ("warning", False), ("error", False)]
)
def test_access_lines_are_written_at_info_and_below(
    tmp_path: Path, level: str, enabled: bool
) -> None:
    configure(level, tmp_path / "access.log")
    assert ACCESS_LOG.enabled is enabled


async def test_the_access_log_goes_to_the_file_given(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    configure("info", path)
    ACCESS_LOG.request("a.1", "GET", "/jwks.json", 200, 0.001, "127.0.0.1", None)
    await asyncio.sleep(0)
    line = json.loads(path.read_text())
    assert line["path"] == "/jwks.json" and line["logger"] == "tollhouse.access"
