"""Revocation checks for :class:`~tollhouse.resource.TokenValidator`: pick one.

* :class:`RevocationFeed` (in :mod:`.feed`): polls the IdP's signed feed; no call per
  request, a revocation arrives within about one poll interval. The default choice.
* :class:`RedisRevocationList`: reads the key ``tollhouse:revoked:<jti>`` that the IdP
  writes (with a TTL until the token's ``exp``) in a Redis shared with it; immediate,
  one Redis round trip per request (less with ``cache_ttl``).
* :class:`IntrospectionRevocation`: asks the IdP's RFC 7662 endpoint, caching answers
  for ``cache_ttl`` seconds; simplest to deploy, one IdP call per token per period.

Any object with ``is_revoked(jti) -> bool`` works too. An object may instead offer
``is_token_revoked(token, claims) -> bool`` (introspection needs the token), and may set
``blocking = False`` when its check does no I/O. A check that raises makes the
validator refuse the token (fail closed), unless the backend was built with
``fail_open=True``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final

import httpx

from tollhouse.clock import Clock, SystemClock
from tollhouse.resource.discovery import FetchError, LazyHttpClient, check_url, fetch_metadata
from tollhouse.resource.errors import RevocationUnavailable
from tollhouse.resource.feed import RevocationFeed

if TYPE_CHECKING:
    import redis

log = logging.getLogger("tollhouse.resource")

REDIS_PREFIX: Final = "tollhouse:revoked:"
_MAX_CACHED: Final = 10_000

__all__ = ["REDIS_PREFIX", "IntrospectionRevocation", "RedisRevocationList", "RevocationFeed"]


class _Answers:
    """jti → (revoked, valid until ``time.monotonic()``), bounded, oldest out first."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[bool, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, jti: str) -> bool | None:
        item = self._items.get(jti)
        if item is None or item[1] <= time.monotonic():
            return None
        return item[0]

    def put(self, jti: str, revoked: bool, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            self._items[jti] = (revoked, time.monotonic() + ttl)
            self._items.move_to_end(jti)
            while len(self._items) > _MAX_CACHED:
                self._items.popitem(last=False)


class RedisRevocationList:
    """``is_revoked(jti)``: does ``<prefix><jti>`` exist in the Redis shared with the IdP?

    A revoked answer is kept for an hour (a jti is never un-revoked; tokens live at most
    an hour); a not-revoked answer for ``cache_ttl`` seconds (default 1 s, 0 disables),
    which bounds how late a revocation can be seen.
    """

    blocking = True

    def __init__(
        self,
        redis_url: str,
        *,
        prefix: str = REDIS_PREFIX,
        cache_ttl: float = 1.0,
        fail_open: bool = False,
        timeout: float = 0.5,
    ) -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self.cache_ttl = cache_ttl
        self.fail_open = fail_open
        self.timeout = timeout
        self._client: redis.Redis | None = None
        self._answers = _Answers()

    def _redis(self) -> redis.Redis:
        if self._client is None:
            import redis  # optional until a Redis list is used

            self._client = redis.Redis.from_url(
                self.redis_url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
            )
        return self._client

    def is_revoked(self, jti: str) -> bool:
        known = self._answers.get(jti)
        if known is not None:
            return known
        import redis

        try:
            revoked = bool(self._redis().exists(self.prefix + jti))
        except redis.RedisError as exc:
            if self.fail_open:
                log.warning("Redis revocation list unreachable (fail open): %s", exc)
                return False
            raise RevocationUnavailable(f"Redis revocation list unreachable: {exc}") from None
        self._answers.put(jti, revoked, 3600.0 if revoked else self.cache_ttl)
        return revoked

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class IntrospectionRevocation:
    """RFC 7662: POST the token to the IdP's ``introspection_endpoint``.

    ``{"active": false}`` means revoked (or otherwise dead) and is remembered until the
    token's ``exp``; ``{"active": true}`` is remembered for ``cache_ttl`` seconds. The
    client must be allowed to introspect the API's tokens (``--introspect``).
    ``is_revoked(jti)`` alone only knows jtis already introspected.
    """

    blocking = True

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        cache_ttl: float = 10.0,
        *,
        fail_open: bool = False,
        http_client: httpx.Client | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.issuer = check_url(issuer, "issuer")
        self._clock = clock or SystemClock()
        self.cache_ttl = cache_ttl
        self.fail_open = fail_open
        self._auth = (client_id, client_secret)
        self._http = LazyHttpClient(http_client)
        self._endpoint: str | None = None
        self._answers = _Answers()
        self.calls = 0

    def is_revoked(self, jti: str) -> bool:
        return self._answers.get(jti) is True

    def is_token_revoked(self, token: str, claims: dict[str, Any]) -> bool:
        jti = str(claims.get("jti", ""))
        known = self._answers.get(jti)
        if known is not None:
            return known
        try:
            active = self._introspect(token, jti)
        except (FetchError, httpx.HTTPError, ValueError) as exc:
            if self.fail_open:
                log.warning("introspection unavailable (fail open): %s", exc)
                return False
            raise RevocationUnavailable(f"introspection failed: {exc}") from None
        if active:
            self._answers.put(jti, False, self.cache_ttl)
        else:
            exp = claims.get("exp")
            remaining = float(exp) - self._clock.now() if isinstance(exp, int | float) else 0.0
            self._answers.put(jti, True, max(remaining + 60, self.cache_ttl))
        return not active

    def close(self) -> None:
        self._http.close()

    def _introspect(self, token: str, jti: str) -> bool:
        if self._endpoint is None:
            endpoint = fetch_metadata(self._http.get(), self.issuer).endpoint(
                "introspection_endpoint"
            )
            if endpoint is None:
                raise FetchError(f"{self.issuer} does not advertise introspection_endpoint")
            self._endpoint = endpoint
        self.calls += 1
        response = self._http.get().post(
            self._endpoint,
            data={"token": token, "token_type_hint": "access_token"},
            auth=self._auth,
            headers={"Accept": "application/json"},
        )
        if response.status_code != 200:
            raise FetchError(f"introspection answered HTTP {response.status_code}")
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("active"), bool):
            raise FetchError("introspection response has no boolean active")
        # A response about another token (another jti) is not an answer about this one.
        return bool(body["active"]) and body.get("jti", jti) == jti
