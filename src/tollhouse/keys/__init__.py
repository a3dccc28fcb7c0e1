"""Signing keys (RFC 7517): made and sealed (:mod:`~tollhouse.keys.material`), held and
kept current by each process's ring (:mod:`~tollhouse.keys.ring`), rotated
(:mod:`~tollhouse.keys.rotation`) through the phases of :mod:`~tollhouse.keys.lifecycle`.

The names other packages use are re-exported here.
"""

from __future__ import annotations

from tollhouse.keys.material import generate
from tollhouse.keys.ring import MAX_TOKEN_BYTES, KeyRing, spare_cores

__all__ = ["MAX_TOKEN_BYTES", "KeyRing", "generate", "spare_cores"]
