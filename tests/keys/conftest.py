"""One key per algorithm, made once for every key test."""

from __future__ import annotations

import pytest

from tests.keys.fakes import BOX, NOW
from tollhouse.algorithms import SIGNING_ALGS
from tollhouse.keys import generate
from tollhouse.models import SigningKey


@pytest.fixture(scope="session")
def generated() -> dict[str, SigningKey]:
    """One key per algorithm (RSA generation is slow: make each once)."""
    return {alg: generate(alg, BOX, NOW) for alg in SIGNING_ALGS}
