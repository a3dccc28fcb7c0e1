"""The master key: its source, its file mode, and never a key created by the doctor."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from tollhouse.diagnostics.findings import Level
from tollhouse.diagnostics.master_key_checks import check_master_key
from tollhouse.security.master_key import load_master_key

ENV_KEY = base64.b64encode(b"e" * 32).decode()


def test_key_file_with_mode_0600_is_ok(tmp_path: Path) -> None:
    load_master_key(None, tmp_path)
    report = check_master_key(None, tmp_path, keys_stored=1)
    assert [f.level for f in report.findings] == [Level.OK]
    assert report.box is not None


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_key_file_readable_by_others_is_an_error_with_chmod_fix(tmp_path: Path) -> None:
    load_master_key(None, tmp_path)
    (tmp_path / "master.key").chmod(0o644)
    report = check_master_key(None, tmp_path, keys_stored=1)
    assert report.findings[0].level is Level.ERROR
    assert report.findings[0].fix == f"chmod 600 {tmp_path / 'master.key'}"
    assert report.box is None


def test_missing_key_with_stored_keys_is_an_error_and_nothing_is_created(tmp_path: Path) -> None:
    report = check_master_key(None, tmp_path, keys_stored=2)
    assert report.findings[0].level is Level.ERROR
    assert "2 private keys are stored" in report.findings[0].what
    assert not (tmp_path / "master.key").exists()


def test_missing_key_on_a_fresh_installation_is_fine(tmp_path: Path) -> None:
    report = check_master_key(None, tmp_path, keys_stored=0)
    assert [f.level for f in report.findings] == [Level.OK]
    assert not (tmp_path / "master.key").exists()


def test_env_key_beside_an_unused_file_is_a_warning(tmp_path: Path) -> None:
    load_master_key(None, tmp_path)
    report = check_master_key(ENV_KEY, tmp_path, keys_stored=1)
    assert [f.level for f in report.findings] == [Level.WARNING, Level.OK]
    assert report.box is not None


def test_malformed_env_key_is_an_error_that_does_not_echo_it(tmp_path: Path) -> None:
    report = check_master_key("not-base64-!!", tmp_path, keys_stored=0)
    assert report.findings[0].level is Level.ERROR
    assert "not-base64-!!" not in report.findings[0].what
