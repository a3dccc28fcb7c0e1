"""``logs.configure``: the log level decides whether access lines are written, and the
access log goes to the file it names."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tollhouse.logs import configure
from tollhouse.observability.access_log import ACCESS_LOG, DEFAULT_BUFFER_BYTES
from tollhouse.observability.audit import AuditTrail, RequestInfo, bind_request, unbind_request
from tollhouse.observability.json_lines import JSON_LINES
from tollhouse.protocol.events import TokenIssued


@pytest.fixture(autouse=True)
def restored() -> Iterator[None]:
    """The process's logging and access log writer as they were."""
    root = logging.getLogger("tollhouse")
    handlers, level, propagate = root.handlers[:], root.level, root.propagate
    yield
    ACCESS_LOG.configure(None, enabled=False, buffer_bytes=DEFAULT_BUFFER_BYTES)
    JSON_LINES.use(None)
    root.handlers[:], root.level, root.propagate = handlers, level, propagate


@pytest.mark.parametrize(
    ("level", "enabled"), [("debug", True), ("info", True), ("warning", False), ("error", False)]
)
def test_access_lines_are_written_at_info_and_below(
    tmp_path: Path, level: str, enabled: bool
) -> None:
    configure(level, tmp_path / "access.log")
    assert ACCESS_LOG.enabled is enabled


def test_access_log_off_opens_nothing_and_survives_a_reopen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.chdir(tmp_path)
    configure("info", "off")
    assert ACCESS_LOG.enabled is False
    ACCESS_LOG.reopen()  # SIGHUP for logrotate: nothing to reopen, nothing breaks
    ACCESS_LOG.drain()
    assert list(tmp_path.iterdir()) == []  # no file called "off"
    logging.getLogger("tollhouse.audit").info("token issued")
    assert '"msg":"token issued"' in stream.getvalue()  # the other lines stay on


async def test_the_access_log_goes_to_the_file_given(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    configure("info", path)
    ACCESS_LOG.request("a.1", "GET", "/jwks.json", 200, 0.001, "127.0.0.1", None)
    await asyncio.sleep(0)
    line = json.loads(path.read_text())
    assert line["path"] == "/jwks.json" and line["logger"] == "tollhouse.access"


def test_audit_lines_skip_logging_but_read_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``configure``'s handler alone, audit lines skip the ``logging`` machinery
    (observability/json_lines.py); each is the line the handler would have written."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure("info", tmp_path / "access.log")
    event = TokenIssued("access_token", "client-1", "alice", "jti-1", None, ("https://api",))
    root = logging.getLogger("tollhouse")
    assert JSON_LINES.accepts(logging.getLogger("tollhouse.audit"), filters=1)
    token = bind_request(RequestInfo("req-7", "198.51.100.2"))
    try:
        AuditTrail().emit(event)  # the fast path
        root.addFilter(marker := logging.Filter())  # someone else's set-up: through logging
        AuditTrail().emit(event)
        root.removeFilter(marker)
    finally:
        unbind_request(token)
    JSON_LINES.flush()
    fast, slow = (json.loads(line) for line in stream.getvalue().splitlines())
    assert abs(fast.pop("ts") - slow.pop("ts")) < 60
    assert list(fast.items()) == list(slow.items())
    assert fast["request_id"] == "req-7" and fast["event"] == "token_issued"


def test_audit_lines_on_a_loop_leave_at_the_end_of_its_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines of one pass go out together; a loop closed before its pass ended strands
    none: the next loop's pass writes them."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure("info", tmp_path / "access.log")
    event = TokenIssued("access_token", "client-1", "alice", "jti-1", None, ())

    async def emit_then_stop() -> None:
        AuditTrail().emit(event)
        AuditTrail().emit(event)
        assert stream.getvalue() == ""  # not yet: the pass goes on
        asyncio.get_running_loop().stop()  # the pass ends, its callbacks never run

    async def emit_and_wait() -> None:
        AuditTrail().emit(event)
        await asyncio.sleep(0)

    closed = asyncio.new_event_loop()
    task = closed.create_task(emit_then_stop())
    closed.run_forever()
    closed.close()
    assert task.done()
    assert stream.getvalue() == ""
    asyncio.run(emit_and_wait())
    assert len(stream.getvalue().splitlines()) == 3
