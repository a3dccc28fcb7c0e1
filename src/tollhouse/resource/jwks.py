"""The issuer's JWK Set, cached: discovery → ``jwks_uri`` → parsed keys, never per request.

* A key set lives ``ttl`` seconds; from 80 % of that age the next validation starts a
  background refresh (one thread, only while one is needed), so no request waits for it.
* An unknown ``kid`` may trigger one re-fetch, at most once per ``refetch_interval``
  seconds however many forged kids arrive (no fetch storm).
* If the issuer cannot be reached, the old keys keep serving, with a warning, for up to
  ``max_stale`` seconds past their ``ttl``; after that validation fails closed.

Threads are started on demand rather than at construction, so a validator created
before a server forks its workers keeps working in each of them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import httpx

from tollhouse.resource.discovery import (
    FetchError,
    IssuerMetadata,
    LazyHttpClient,
    check_url,
    fetch_metadata,
    get_json,
)
from tollhouse.resource.jwk import SUPPORTED_ALGS, VerifyKey
from tollhouse.resource.keyset import KeySet, parse_keys

log = logging.getLogger("tollhouse.resource")

REFRESH_AT: Final = 0.8
"""Fraction of ``ttl`` after which a background refresh starts."""
RETRY_INTERVAL: Final = 10.0
"""Seconds between attempts while the issuer is unreachable."""


@dataclass(slots=True, kw_only=True)
class FetchedKeySet(KeySet):
    """One fetched JWK Set and its schedule (``time.monotonic`` seconds)."""

    fetched_at: float
    refresh_at: float
    stale_at: float
    expires_at: float


class JwksCache:
    """The keys of one issuer for one process, a :class:`KeySource`; thread-safe."""

    def __init__(
        self,
        issuer: str,
        *,
        ttl: float = 3600,
        refetch_interval: float = 5.0,
        max_stale: float | None = None,
        algorithms: Iterable[str] = SUPPORTED_ALGS,
        http: httpx.Client | None = None,
    ) -> None:
        self.issuer = check_url(issuer, "issuer")
        self.ttl = float(ttl)
        self.refetch_interval = float(refetch_interval)
        self.max_stale = self.ttl if max_stale is None else float(max_stale)
        self.algorithms = frozenset(algorithms)
        self._http = LazyHttpClient(http)
        self._lock = threading.Lock()
        self._schedule_lock = threading.Lock()
        self._keyset: FetchedKeySet | None = None
        self._metadata: IssuerMetadata | None = None
        self._last_refetch = -float("inf")
        self._last_failure = -float("inf")
        self._next_background = 0.0
        self._refreshing = False
        self.fetches = 0
        """JWK Set documents fetched so far (for tests and metrics)."""
        self.last_error: str | None = None

    @property
    def metadata(self) -> IssuerMetadata | None:
        return self._metadata

    def current(self) -> FetchedKeySet | None:
        """The usable key set without any I/O (None if there is none); may start a refresh."""
        keyset = self._keyset
        if keyset is None:
            return None
        now = time.monotonic()
        if now >= keyset.refresh_at:
            self._schedule_refresh(now)
            if now >= keyset.expires_at:
                return None
        return keyset

    def load(self) -> FetchedKeySet:
        """The usable key set, fetched now if there is none; raises :class:`FetchError`."""
        keyset = self.current()
        if keyset is not None:
            return keyset
        with self._lock:
            keyset = self.current()
            if keyset is not None:
                return keyset
            now = time.monotonic()
            if now - self._last_failure < self.refetch_interval and self.last_error:
                raise FetchError(self.last_error)  # no retry storm while the IdP is down
            try:
                return self._fetch(discover=True)
            except FetchError as exc:
                self._failed(exc)
                raise

    def refetch_for(self, kid: str) -> FetchedKeySet | None:
        """Re-fetch the JWK Set for an unknown ``kid``, at most once per ``refetch_interval``.

        Returns the new set (which may still lack ``kid``), or None if rate-limited or
        the fetch failed.
        """
        with self._lock:
            keyset = self._keyset
            if keyset is not None and kid in keyset.keys:
                return keyset  # another thread fetched it meanwhile
            now = time.monotonic()
            if now - self._last_refetch < self.refetch_interval:
                log.debug("unknown kid %r: re-fetch rate-limited", kid[:64])
                return None
            self._last_refetch = now
            try:
                return self._fetch(discover=self._metadata is None)
            except FetchError as exc:
                self._failed(exc)
                return None

    def may_refetch(self, kid: str) -> bool:
        """Outside the lock: a stale answer only sends one call to :meth:`refetch_for`,
        which decides again under it."""
        keyset = self._keyset
        if keyset is not None and kid in keyset.keys:
            return True  # another thread fetched it meanwhile: refetch_for returns it
        return time.monotonic() - self._last_refetch >= self.refetch_interval

    def refresh(self) -> FetchedKeySet:
        """Fetch discovery and the JWK Set now (blocking); raises :class:`FetchError`."""
        with self._lock:
            try:
                return self._fetch(discover=True)
            except FetchError as exc:
                self._failed(exc)
                raise

    def close(self) -> None:
        """Close the HTTP client if this cache made it (not one passed in)."""
        self._http.close()

    # Internals -----------------------------------------------------------------------

    def _fetch(self, *, discover: bool) -> FetchedKeySet:
        http = self._http.get()
        if discover or self._metadata is None:
            self._metadata = fetch_metadata(http, self.issuer)
        metadata = self._metadata
        document = get_json(http, metadata.jwks_uri)
        self.fetches += 1
        algorithms = self.algorithms
        if metadata.signing_algs is not None:
            algorithms = algorithms & metadata.signing_algs
        keys = _parse_set(document, algorithms)
        now = time.monotonic()
        keyset = FetchedKeySet(
            keys=keys,
            algorithms=algorithms,
            fetched_at=now,
            refresh_at=now + self.ttl * REFRESH_AT,
            stale_at=now + self.ttl,
            expires_at=now + self.ttl + self.max_stale,
        )
        previous = self._keyset
        if previous is not None and previous.keys.keys() != keys.keys():
            log.info("JWKS of %s changed; kids: %s", self.issuer, ", ".join(keys) or "none")
        self._keyset = keyset
        self.last_error = None
        return keyset

    def _failed(self, exc: Exception) -> None:
        self._last_failure = time.monotonic()
        self.last_error = str(exc)

    def _schedule_refresh(self, now: float) -> None:
        if self._refreshing or now < self._next_background:
            return  # the common case, without a lock
        with self._schedule_lock:
            if self._refreshing or now < self._next_background:
                return
            self._refreshing = True
            self._next_background = now + RETRY_INTERVAL
        thread = threading.Thread(
            target=self._background_refresh, name="tollhouse-jwks-refresh", daemon=True
        )
        thread.start()

    def _background_refresh(self) -> None:
        try:
            self.refresh()
        except FetchError as exc:
            keyset = self._keyset
            if keyset is None:
                return
            age = time.monotonic() - keyset.fetched_at
            if time.monotonic() >= keyset.expires_at:
                log.error("JWKS of %s unreachable and too old to use: %s", self.issuer, exc)
            elif time.monotonic() >= keyset.stale_at:
                log.warning(
                    "JWKS of %s unreachable; serving keys %.0f s old: %s", self.issuer, age, exc
                )
            else:
                log.warning("JWKS refresh of %s failed, will retry: %s", self.issuer, exc)
        except Exception:  # a refresh thread must never die noisily
            log.exception("JWKS refresh of %s failed", self.issuer)
        finally:
            self._refreshing = False


def _parse_set(document: Any, algorithms: frozenset[str]) -> dict[str, VerifyKey]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise FetchError("the JWK Set is not an object with a keys array")
    return parse_keys(document["keys"], algorithms)
