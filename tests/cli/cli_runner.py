"""Run the real ``tollhouse`` console script as a subprocess, the way operators do.

Every command gets ``TOLLHOUSE_TEST_FAST_HASH=1`` (argon2id test profile) and its state
through ``TOLLHOUSE_DATA_DIR``; no other ``TOLLHOUSE_*`` variable leaks in from the
environment. :meth:`Cli.query` opens the same SQLite database in this process.
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

from tollhouse.storage.ports import Storage
from tollhouse.storage.sql.storage import open_storage

T = TypeVar("T")
TIMEOUT = 90
"""A hang guard, not a speed check: a command takes a second or two, but far longer on a
machine busy with other test workers."""


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

    def assert_ok(self) -> Result:
        assert self.code == 0, self
        return self

    def assert_failure(self, message: str) -> None:
        """Exit 1 with exactly one line on stderr, containing ``message``."""
        assert self.code == 1, self
        assert len(self.stderr.splitlines()) == 1, self.stderr
        assert message in self.stderr, self.stderr

    def assert_usage_error(self, message: str = "") -> None:
        """Exit 2 (click's usage error) naming the problem."""
        assert self.code == 2, self
        assert message in self.stderr, self.stderr


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

    def many(self, *commands: Sequence[str], stdin: Sequence[str | None] = ()) -> list[Result]:
        """Run independent commands at once; ``stdin[i]`` feeds command i. In order."""
        inputs = list(stdin) + [None] * (len(commands) - len(stdin))
        processes = [
            self._start(args, data is not None) for args, data in zip(commands, inputs, strict=True)
        ]
        results = []
        for process, data in zip(processes, inputs, strict=True):
            out, err = process.communicate(data, timeout=TIMEOUT)
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
