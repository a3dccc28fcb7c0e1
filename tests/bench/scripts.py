"""Load a file of ``bench/`` as a module, the way its tests look at its functions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``path`` executed as module ``name``, with ``bench/`` importable (the scripts
    import their helpers from ``bench/idp``); both undone after the test."""
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module
