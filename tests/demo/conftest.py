"""What the demo's test modules share: free ports for a stack, headless Chromium
(Debian's, launched by path as in tests/browser/conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.conftest import free_port


def distinct_ports(count: int) -> list[int]:
    ports: set[int] = set()
    for _ in range(50):
        ports.add(free_port())
        if len(ports) == count:
            return sorted(ports)
    raise AssertionError("no free ports")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = None
    if not CHROMIUM.exists():
        reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            reason = "playwright is not installed (pip install -e '.[dev]')"
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (required when CI=true)")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield launched
        finally:
            launched.close()
