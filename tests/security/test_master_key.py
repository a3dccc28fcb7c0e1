"""Master key: from the env var, or from a 0600 file created once, atomically."""

from __future__ import annotations

import base64
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tollhouse.errors import ConfigError
from tollhouse.security.master_key import MasterKey, load_master_key

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
RAW = bytes(range(200, 232))


def test_env_value_in_standard_base64() -> None:
    loaded = load_master_key(base64.b64encode(RAW).decode(), Path("/nonexistent"))
    assert loaded == MasterKey(key=RAW, source="env", created=False)


def test_env_value_in_urlsafe_base64_without_padding() -> None:
    value = base64.urlsafe_b64encode(RAW).decode().rstrip("=")
    assert "-" in value or "_" in value  # the fixture exercises the urlsafe alphabet
    assert load_master_key(value, Path("/nonexistent")).key == RAW


def test_env_value_with_surrounding_whitespace() -> None:
    value = f"  {base64.b64encode(RAW).decode()}\n"
    assert load_master_key(value, Path("/nonexistent")).key == RAW


@pytest.mark.parametrize(
    "value",
    [
        base64.b64encode(b"\x01" * 16).decode(),
        base64.b64encode(b"\x01" * 33).decode(),
        "not base64 at all!",
        "",
        "   ",
    ],
)
def test_bad_env_value_is_refused_without_echoing_it(value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_master_key(value, tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert "TOLLHOUSE_MASTER_KEY" in message
    if value.strip():
        assert value not in message
    assert not (tmp_path / "master.key").exists()


def test_env_value_wins_over_the_file(tmp_path: Path) -> None:
    load_master_key(None, tmp_path)
    assert load_master_key(base64.b64encode(RAW).decode(), tmp_path).key == RAW


@posix_only
def test_first_start_creates_a_private_key_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data" / "nested"
    loaded = load_master_key(None, data_dir)
    path = data_dir / "master.key"
    assert loaded.created is True
    assert loaded.source == str(path)
    assert len(loaded.key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) & 0o077 == 0
    assert base64.b64decode(path.read_text().strip()) == loaded.key
    assert [p.name for p in data_dir.iterdir()] == ["master.key"]  # no temp file left


def test_second_start_reads_the_same_key(tmp_path: Path) -> None:
    first = load_master_key(None, tmp_path)
    second = load_master_key(None, tmp_path)
    assert second.key == first.key
    assert second.created is False


def test_existing_file_in_urlsafe_base64_is_read(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_text(base64.urlsafe_b64encode(RAW).decode() + "\n")
    path.chmod(0o600)
    assert load_master_key(None, tmp_path) == MasterKey(RAW, str(path), False)


@posix_only
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o620])
def test_group_or_world_accessible_file_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "master.key"
    path.write_text(base64.b64encode(RAW).decode())
    path.chmod(mode)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_master_key(None, tmp_path)


@pytest.mark.parametrize("content", [b"", b"c2hvcnQ=\n", b"\xff\xfe not text", b"!!!!"])
def test_file_that_is_not_32_bytes_of_base64_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="master key file") as caught:
        load_master_key(None, tmp_path)
    assert "\n" not in str(caught.value)


def test_repr_does_not_show_the_key() -> None:
    loaded = load_master_key(base64.b64encode(RAW).decode(), Path("/nonexistent"))
    assert RAW.hex() not in repr(loaded)
    assert repr(RAW) not in repr(loaded)


def test_racing_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    workers = 8
    barrier = threading.Barrier(workers)

    def start() -> MasterKey:
        barrier.wait()
        return load_master_key(None, tmp_path)

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda _: start(), range(workers)))
    assert len({r.key for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["master.key"]


def test_race_loser_reads_the_winners_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process creates the file between our read and our link: we use theirs."""
    from tollhouse.security import master_key

    winner = base64.b64encode(RAW).decode()
    real_read = master_key._read
    calls = 0

    def read_then_lose(path: Path) -> bytes | None:
        nonlocal calls
        calls += 1
        if calls == 1:  # our first look finds nothing; then the other process wins
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, winner.encode())
            os.close(fd)
            return None
        return real_read(path)

    monkeypatch.setattr(master_key, "_read", read_then_lose)
    loaded = load_master_key(None, tmp_path)
    assert loaded == MasterKey(RAW, str(tmp_path / "master.key"), False)
