"""Where the validation core's keys come from: a :class:`KeySource`.

A resource server's source is :class:`~tollhouse.resource.jwks.JwksCache`: the issuer's
JWK Set, fetched over HTTP and cached. The identity provider itself verifies with the
public keys it publishes, through a source that reads them in process (never over
HTTP); ``tollhouse token inspect`` uses :class:`StaticKeys`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tollhouse.resource.jwk import SUPPORTED_ALGS, UnusableKey, VerifyKey, parse_jwk

log = logging.getLogger("tollhouse.resource")


@dataclass(slots=True)
class KeySet:
    """Verification keys by kid; replaced whole, never mutated (but for ``headers``)."""

    keys: dict[str, VerifyKey]
    algorithms: frozenset[str]
    """Algorithms accepted with this set (RFC 8725 §3.1: an allow-list)."""
    headers: dict[str, VerifyKey] = field(default_factory=dict)
    """Validated JOSE header segments → key, filled by the validator (bounded)."""


class KeySource(Protocol):
    @property
    def last_error(self) -> str | None:
        """Why the last attempt to get keys failed (None after a success)."""
        ...

    def current(self) -> KeySet | None:
        """The usable keys, without blocking (None if there are none now)."""
        ...

    def load(self) -> KeySet:
        """The usable keys, fetched now if need be; may block, raises ``FetchError``."""
        ...

    def refetch_for(self, kid: str) -> KeySet | None:
        """The keys again after an unknown ``kid``: None if the source would not or
        could not look (it may rate-limit), else the new set (which may lack ``kid``)."""
        ...

    def may_refetch(self, kid: str) -> bool:
        """Whether :meth:`refetch_for` would look for ``kid`` now; without I/O. False
        lets an async caller refuse the kid at once instead of handing a call that would
        do nothing to a thread (tokens of another issuer arrive with ever unknown kids)."""
        ...


def parse_keys(jwks: Iterable[Any], algorithms: frozenset[str]) -> dict[str, VerifyKey]:
    """The usable keys among RFC 7517 JWKs whose ``alg`` is in ``algorithms``.

    Unusable entries are skipped; a kid listed twice names no key (it is ambiguous).
    """
    keys: dict[str, VerifyKey] = {}
    duplicates: set[str] = set()
    for entry in jwks:
        if not isinstance(entry, dict):
            continue
        try:
            key = parse_jwk(entry)
        except UnusableKey as exc:
            log.debug("skipping JWK: %s", exc)
            continue
        if key.alg not in algorithms:
            continue
        if key.kid in keys:
            duplicates.add(key.kid)
        keys[key.kid] = key
    for kid in duplicates:
        log.warning("JWK Set lists kid %r more than once; ignoring it", kid)
        del keys[kid]
    return keys


class StaticKeys:
    """A key source that never changes: the keys of some JWKs, parsed once."""

    last_error: str | None = None

    def __init__(
        self, jwks: Iterable[dict[str, Any]], algorithms: Iterable[str] = SUPPORTED_ALGS
    ) -> None:
        allowed = frozenset(algorithms)
        self._keyset = KeySet(parse_keys(jwks, allowed), allowed)

    def current(self) -> KeySet:
        return self._keyset

    def load(self) -> KeySet:
        return self._keyset

    def refetch_for(self, kid: str) -> KeySet | None:
        return None

    def may_refetch(self, kid: str) -> bool:
        return False
