"""What every test directory shares: the order modules start in."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules with a test marked ``slow`` first, each module kept whole and in order.

    Under pytest-xdist (``make test``: ``--dist loadfile``) a worker takes the next
    module when it finishes one; a long module handed out last would leave the other
    workers idle while it runs alone.
    """
    slow_files = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow_files)
