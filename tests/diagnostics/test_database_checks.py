"""Schema revision and clock skew against the database server."""

from __future__ import annotations

import pytest

from tollhouse.diagnostics.database_checks import check_autovacuum, check_clock, check_revision
from tollhouse.diagnostics.findings import Level


def test_schema_must_be_at_head() -> None:
    assert check_revision("0001", "0001").level is Level.OK
    assert check_revision("0000", "0001").level is Level.ERROR
    missing = check_revision(None, "0001")
    assert missing.level is Level.ERROR and "tollhouse migrate" in (missing.fix or "")


@pytest.mark.parametrize(
    ("skew", "level"),
    [
        (0.4, Level.OK),
        (-1.9, Level.OK),
        (2.5, Level.WARNING),
        (-10.0, Level.WARNING),
        (45.0, Level.ERROR),
    ],
)
def test_clock_skew_over_two_seconds_warns(skew: float, level: Level) -> None:
    finding = check_clock(skew, "the database server")
    assert finding.level is level
    if level is not Level.OK:
        assert "ahead of" in finding.what if skew > 0 else "behind" in finding.what


def test_autovacuum_off_on_the_server_or_a_purged_table_warns() -> None:
    assert check_autovacuum(True, []).level is Level.OK
    server_off = check_autovacuum(False, [])
    assert server_off.level is Level.WARNING
    assert "grow on disk" in server_off.what and "autovacuum = on" in (server_off.fix or "")
    table_off = check_autovacuum(True, ["access_tokens"])
    assert table_off.level is Level.WARNING and "access_tokens" in table_off.what
