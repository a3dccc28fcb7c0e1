"""``RevocationFeed``: the IdP's signed list of revoked access-token ``jti``s, polled.

``GET /revocations?since=CURSOR`` (``revocation_feed_endpoint`` in discovery), with the
resource server's client credentials (HTTP Basic), answers a compact JWS
(``typ: revocations+jwt``) signed with a key of the issuer's JWKS, whose payload is
``{"iss", "iat", "revoked": [{"jti", "exp"}], "next": CURSOR, "more": bool}``.
A background thread polls every ``interval`` seconds; ``is_revoked`` is a set lookup,
so a revocation reaches the resource server within about one interval with no call
per request.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any, Final

import httpx

from tollhouse.clock import Clock, SystemClock
from tollhouse.errors import ConfigError
from tollhouse.resource.discovery import FetchError, fetch_metadata, new_http_client, read_limited
from tollhouse.resource.errors import RevocationUnavailable
from tollhouse.resource.jwk import b64decode
from tollhouse.resource.jwks import JwksCache

log = logging.getLogger("tollhouse.resource")

FEED_TYP: Final = "revocations+jwt"
MAX_FEED_BYTES: Final = 4 * 1024 * 1024
MAX_PAGES_PER_POLL: Final = 50
FEED_LEEWAY: Final = 300
"""Seconds of clock difference tolerated on the feed's ``iat``."""


class RevocationFeed:
    """Implements ``is_revoked(jti)`` from the IdP's revocation feed.

    Polling starts on first use or :meth:`start` (call it at start-up: the first poll
    then happens before the first request). With ``max_staleness`` set, ``is_revoked``
    fails (and the validator refuses tokens) once the last good poll is older than that;
    by default a feed that cannot be reached keeps answering from what it knew, with
    warnings in the log.
    """

    blocking = False
    """``is_revoked`` never does I/O, so async callers need no thread for it."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        interval: float = 5,
        *,
        max_staleness: float | None = None,
        http_client: httpx.Client | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._own_http = http_client is None
        self._http = http_client or new_http_client()
        self.jwks = JwksCache(issuer, http=self._http)
        self.issuer = self.jwks.issuer
        self.interval = float(interval)
        self.max_staleness = max_staleness
        self._auth = (client_id, client_secret)
        self._clock = clock or SystemClock()
        self._revoked: dict[str, float] = {}
        self._cursor: str | None = None
        self._endpoint: str | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._generation = 0
        self._pid: int | None = None
        self.last_success: float | None = None
        """``time.monotonic()`` of the last good poll."""
        self.last_error: str | None = None
        self.polls = 0

    def is_revoked(self, jti: str) -> bool:
        if self._pid != os.getpid():
            self.start()
        last = self.last_success
        if last is None:  # never read: knowing nothing is not "not revoked"
            raise RevocationUnavailable(f"revocation feed not read yet: {self.last_error}")
        if self.max_staleness is not None and time.monotonic() - last > self.max_staleness:
            raise RevocationUnavailable(f"revocation feed is stale: {self.last_error}")
        return jti in self._revoked

    def __len__(self) -> int:
        return len(self._revoked)

    def start(self) -> bool:
        """Poll once now, then every ``interval`` seconds in a daemon thread (idempotent).

        Returns whether the first poll succeeded (see :attr:`last_error` if not); the
        thread keeps trying either way.
        """
        with self._lock:
            if self._pid == os.getpid():
                return self.last_success is not None
            self._pid = os.getpid()  # after a fork the parent's thread is gone: start anew
            self._generation += 1
            generation = self._generation
            self._wake.clear()
            if self._http.is_closed:  # started again after stop()
                self._http = new_http_client()
                self.jwks = JwksCache(self.issuer, http=self._http)
        ok = self.poll()
        threading.Thread(
            target=self._run, args=(generation,), name="tollhouse-revocation-feed", daemon=True
        ).start()
        return ok

    def stop(self) -> None:
        """Stop polling and close the HTTP client if the feed made it."""
        with self._lock:
            self._generation += 1
            self._pid = None
            self._wake.set()
        if self._own_http:
            self._http.close()

    close = stop

    def poll(self) -> bool:
        """Fetch every page that is new since the last poll; False (and logged) on failure."""
        try:
            for _ in range(MAX_PAGES_PER_POLL):
                if not self._poll_page():
                    break
        except (FetchError, ConfigError, ValueError, RecursionError) as exc:
            self.last_error = str(exc)
            log.warning("revocation feed of %s: %s", self.issuer, exc)
            return False
        self.polls += 1
        self.last_success = time.monotonic()
        self.last_error = None
        self._prune()
        return True

    # Internals -----------------------------------------------------------------------

    def _run(self, generation: int) -> None:
        while True:
            self._wake.wait(self.interval)
            if self._generation != generation:
                return
            try:
                self.poll()
            except Exception:  # the poller must survive anything
                log.exception("revocation feed poll failed")

    def _client(self) -> httpx.Client:
        return self._http

    def _feed_endpoint(self) -> str:
        if self._endpoint is None:
            metadata = fetch_metadata(self._client(), self.issuer)
            endpoint = metadata.endpoint("revocation_feed_endpoint")
            if endpoint is None:
                raise ConfigError(f"{self.issuer} does not advertise revocation_feed_endpoint")
            self._endpoint = endpoint
        return self._endpoint

    def _poll_page(self) -> bool:
        """One page; True if the feed says there is more to read right away."""
        params = {} if self._cursor is None else {"since": self._cursor}
        try:
            with self._client().stream(
                "GET", self._feed_endpoint(), params=params, auth=self._auth
            ) as response:
                body = read_limited(response, MAX_FEED_BYTES)
        except httpx.HTTPError as exc:
            raise FetchError(f"feed unreachable: {type(exc).__name__}: {exc}") from None
        if response.status_code == 400 and self._cursor is not None:
            log.warning("revocation feed refused cursor %s; reading it from the start", params)
            self._cursor = None
            return True
        if response.status_code != 200:
            raise FetchError(f"feed answered HTTP {response.status_code}: {body[:200]!r}")
        payload = self._verify(body.decode("ascii", errors="replace").strip())
        for item in payload["revoked"]:
            if not isinstance(item, dict):
                continue
            jti, exp = item.get("jti"), item.get("exp")
            if isinstance(jti, str) and isinstance(exp, int | float):
                self._revoked[jti] = float(exp)
        cursor = payload.get("next")
        if cursor is not None:
            self._cursor = str(cursor)
        return payload.get("more") is True and cursor is not None

    def _verify(self, token: str) -> dict[str, Any]:
        """RFC 7515 compact JWS, signed by a key in the issuer's JWKS, ``typ`` checked."""
        parts = token.split(".")
        if len(parts) != 3:
            raise FetchError("feed response is not a compact JWS")
        header = json.loads(b64decode(parts[0]))
        if not isinstance(header, dict) or header.get("typ") != FEED_TYP:
            raise FetchError(f"feed response typ is not {FEED_TYP}")
        if "crit" in header or "b64" in header:  # RFC 7515 §4.1.11, RFC 7797
            raise FetchError("feed response has critical header extensions")
        kid = header.get("kid")
        keyset = self.jwks.load()
        key = keyset.keys.get(kid) if isinstance(kid, str) else None
        if key is None and isinstance(kid, str):
            refreshed = self.jwks.refetch_for(kid)
            key = refreshed.keys.get(kid) if refreshed else None
        if key is None or key.alg != header.get("alg") or key.alg not in keyset.algorithms:
            raise FetchError("feed response is signed with an unknown key or algorithm")
        if not key.verify(b64decode(parts[2]), f"{parts[0]}.{parts[1]}".encode("ascii")):
            raise FetchError("feed response signature is invalid")
        payload = json.loads(b64decode(parts[1]))
        if not isinstance(payload, dict) or payload.get("iss") != self.issuer:
            raise FetchError("feed response is from another issuer")
        iat = payload.get("iat")
        if not isinstance(iat, int | float) or abs(iat - self._clock.now()) > FEED_LEEWAY:
            raise FetchError("feed response iat is missing or too far from now")
        if not isinstance(payload.get("revoked"), list):
            raise FetchError("feed response has no revoked list")
        return payload

    def _prune(self) -> None:
        now = self._clock.now()
        expired = [jti for jti, exp in self._revoked.items() if exp + FEED_LEEWAY < now]
        for jti in expired:
            self._revoked.pop(jti, None)
