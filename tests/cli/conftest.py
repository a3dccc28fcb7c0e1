"""Run the real ``tollhouse`` console script against a SQLite file in a temporary dir.

Every command runs as a subprocess, the way operators and scripts run it, with
``TOLLHOUSE_TEST_FAST_HASH=1`` so argon2id uses its test profile. Tests that need to
look behind the CLI open the same database through ``open_storage``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tollhouse.storage.ports import Storage
from tollhouse.storage.sql import open_storage

T = TypeVar("T")
TIMEOUT = 30


def _console_script() -> str:
    beside_python = Path(sys.executable).with_name("tollhouse")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("tollhouse")
    if found is None:
        raise RuntimeError("the tollhouse console script is not installed (pip install -e .)")
    return found


TOLLHOUSE = _console_script()


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()


class Cli:
    """``tollhouse`` with its state in ``data_dir`` (given through TOLLHOUSE_DATA_DIR)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLHOUSE_")}
        self.env["TOLLHOUSE_TEST_FAST_HASH"] = "1"
        self.env["TOLLHOUSE_DATA_DIR"] = str(data_dir)

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'tollhouse.db'}"

    def _start(self, args: Sequence[str], stdin: bool) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [TOLLHOUSE, *args],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )

    def __call__(self, *args: str, stdin: str | None = None) -> Result:
        process = self._start(args, stdin is not None)
        out, err = process.communicate(stdin, timeout=TIMEOUT)
        return Result(process.returncode, out, err)

    def many(self, *commands: Sequence[str]) -> list[Result]:
        """Run independent commands at once (none may need stdin); results in order."""
        processes = [self._start(args, stdin=False) for args in commands]
        results = []
        for process in processes:
            out, err = process.communicate(timeout=TIMEOUT)
            results.append(Result(process.returncode, out, err))
        return results

    def query(self, work: Callable[[Storage], Awaitable[T]]) -> T:
        """Run ``work`` on the same database, opened in this process."""

        async def main() -> T:
            storage = await open_storage(self.database_url)
            try:
                return await work(storage)
            finally:
                await storage.close()

        return asyncio.run(main())


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "state")


def assert_failure(result: Result, message: str) -> None:
    """Exit 1 with exactly one line on stderr that contains ``message``."""
    assert result.code == 1, result
    assert len(result.stderr_lines) == 1, result.stderr
    assert message in result.stderr, result.stderr


def assert_usage_error(result: Result, message: str = "") -> None:
    assert result.code == 2, result
    assert message in result.stderr, result.stderr
