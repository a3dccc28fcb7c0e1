"""RFC 9068 §4: the one access-token validation core, and the resource server's validator.

:class:`AccessTokenVerifier` applies the rules of :mod:`.at_jwt`, in :class:`.at_jwt.Rule`
order, with the keys of a :class:`.keyset.KeySource`, and remembers the tokens it verified
by digest until they expire. :class:`TokenValidator` is the resource library's face of
it: the issuer's JWKS over HTTP, the API's audience, the revocation check and the required
scopes. The identity provider runs the same core over its own published keys
(:mod:`tollhouse.protocol.token_lookup`), and ``tollhouse token inspect`` explains a
verdict rule by rule from the same functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Collection, Iterable, Sequence, Set
from typing import Any, Final, Protocol

import httpx

from tollhouse.clock import Clock, SystemClock
from tollhouse.errors import ConfigError
from tollhouse.resource.at_jwt import (
    DEFAULT_LEEWAY,
    MAX_TOKEN_BYTES,
    Rule,
    check_claims,
    check_key,
    check_signature,
    parse_header,
    payload_of,
    refused,
    scope_tokens,
)
from tollhouse.resource.bearer import presented_token
from tollhouse.resource.cache import Verified, VerifiedTokenCache
from tollhouse.resource.discovery import FetchError, check_url
from tollhouse.resource.dpop import (
    MemoryReplayCache,
    PresentedProof,
    ProofChecker,
    check_binding,
    refuse_bound_bearer,
)
from tollhouse.resource.errors import TokenError, insufficient_scope, missing_token
from tollhouse.resource.jwk import SUPPORTED_ALGS, VerifyKey
from tollhouse.resource.jwks import JwksCache
from tollhouse.resource.keyset import KeySet, KeySource

log = logging.getLogger("tollhouse.resource")

_MAX_CACHED_HEADERS: Final = 64

_BLOCK, _DEFER, _NO_IO = 0, 1, 2


class RevocationCheck(Protocol):
    def is_revoked(self, jti: str) -> bool: ...


class _NeedKeys(Exception):
    """Internal signal of validate_async (keys must be fetched); never escapes."""

    def __init__(self, kid: str | None) -> None:
        self.kid = kid


class AccessTokenVerifier:
    """Verifies the access tokens of ``issuer`` for ``audiences`` with the keys of ``keys``.

    :meth:`verify` returns what the token established or raises :class:`TokenError`
    whose ``check`` names the rule that refused it. ``audiences=None`` is the issuer's
    own view: any well-formed ``aud`` (each of its endpoints decides whose tokens a
    caller may see). A verified token is remembered by its SHA-256 until it expires
    (``cache_size`` entries, 0 disables); a remembered one is still refused once its key
    left the key set or it expired.
    """

    def __init__(
        self,
        issuer: str,
        audiences: Set[str] | None,
        keys: KeySource,
        *,
        leeway: int = DEFAULT_LEEWAY,
        cache_size: int = 10_000,
        max_token_bytes: int = MAX_TOKEN_BYTES,
        clock: Clock | None = None,
    ) -> None:
        if leeway < 0 or max_token_bytes < 64:
            raise ConfigError("leeway must be >= 0 and max_token_bytes >= 64")
        self.issuer = issuer
        self.audiences = audiences
        self.keys = keys
        self.leeway = leeway
        self.max_token_bytes = max_token_bytes
        self._clock = clock or SystemClock()
        self._cache = VerifiedTokenCache[Verified](cache_size) if cache_size > 0 else None
        self.cache_hits = 0
        self.cache_misses = 0

    @property
    def cache_hit_rate(self) -> float:
        total = self.cache_hits + self.cache_misses
        return self.cache_hits / total if total else 0.0

    def verify(self, token: str) -> Verified:
        """The token's signature and claims checked, blocking as the key source may."""
        return self._verified(token, _BLOCK)

    def _verified(self, token: str, io: int, retry: bool = False) -> Verified:
        if not token:
            raise missing_token()
        # isascii() is a flag CPython keeps on every str: a lone surrogate (which no
        # encoding can carry) or any other non-ASCII token is refused at no cost.
        if type(token) is not str or len(token) > self.max_token_bytes or not token.isascii():
            raise refused(Rule.FORMAT, "The access token is too large or not ASCII text.")
        cache = self._cache
        digest = b""
        if cache is not None:
            digest = hashlib.sha256(token.encode()).digest()
            entry = cache.get(digest)
            if entry is not None:
                keyset = self.keys.current()
                if (
                    keyset is not None
                    and entry.kid in keyset.keys
                    and self._clock.now() < entry.exp + self.leeway
                ):
                    self.cache_hits += 1
                    return entry
                cache.discard(digest)
            if not retry:
                self.cache_misses += 1
        # Three base64url segments: the dots are found here, and strict decoding of
        # each segment refuses any other character (a fourth dot included).
        first = token.find(".")
        last = token.rfind(".")
        if first == last:
            raise refused(
                Rule.FORMAT, "The access token is not a compact JWS (header.payload.sig)."
            )
        keyset = self.keys.current() or self._load_keys(io)
        header = token[:first]
        key = keyset.headers.get(header)
        if key is None:
            key, keyset = self._key_for(header, keyset, io)
            check_signature(token, last, key)
            # Only a header whose signature verified is remembered: forged tokens with
            # ever new headers cannot push the real ones out.
            if len(keyset.headers) < _MAX_CACHED_HEADERS:
                keyset.headers[header] = key
        else:
            check_signature(token, last, key)
        claims = payload_of(token[first + 1 : last])
        now = self._clock.now()
        entry = check_claims(claims, self.issuer, self.audiences, now, self.leeway, key.kid)
        if cache is not None:
            cache.put(digest, entry)
        return entry

    def _load_keys(self, io: int) -> KeySet:
        if io == _DEFER:
            raise _NeedKeys(None)
        if io == _BLOCK:
            self._fetch_keys(None)
        keyset = self.keys.current()
        if keyset is None:
            log.warning("no usable keys for %s: %s", self.issuer, self.keys.last_error)
            raise refused(Rule.KID, "The issuer's signing keys are unavailable.")
        return keyset

    def _fetch_keys(self, kid: str | None) -> None:
        if kid is not None:
            self.keys.refetch_for(kid)
            return
        with contextlib.suppress(FetchError):  # reported by _load_keys
            self.keys.load()

    def _key_for(self, segment: str, keyset: KeySet, io: int) -> tuple[VerifyKey, KeySet]:
        """The key a (not yet seen) JOSE header names, after checking the header, and
        the key set it came from."""
        alg, kid = parse_header(segment, keyset.algorithms)
        key = keyset.keys.get(kid)
        if key is None:
            if io == _DEFER:
                if self.keys.may_refetch(kid):
                    raise _NeedKeys(kid)
            elif io == _BLOCK:
                self._fetch_keys(kid)
            keyset = self.keys.current() or keyset
            key = keyset.keys.get(kid)
        return check_key(key, alg), keyset


class TokenValidator(AccessTokenVerifier):
    """Validates access tokens of one issuer for one API (``audience``).

    ``validate(token, required_scopes)`` returns the claims or raises :class:`TokenError`.
    Keys come from the issuer's discovery document and JWKS (see :mod:`.jwks`); a
    verified token is remembered by its digest until it expires (``cache_size``
    entries, 0 disables), and the revocation check runs on every call, cached or not.
    """

    def __init__(
        self,
        issuer: str,
        audience: str | Collection[str],
        *,
        leeway: int = DEFAULT_LEEWAY,
        jwks_ttl: int = 3600,
        algorithms: Iterable[str] = SUPPORTED_ALGS,
        revocation: RevocationCheck | None = None,
        cache_size: int = 10_000,
        jwks_refetch_interval: float = 5.0,
        max_token_bytes: int = MAX_TOKEN_BYTES,
        realm: str | None = None,
        clock: Clock | None = None,
        http_client: httpx.Client | None = None,
        dpop: ProofChecker | None = None,
    ) -> None:
        """``dpop``: the RFC 9449 proof checker for DPoP-bound tokens; by default one
        with an in-process replay cache (pass one on a shared cache when several
        processes serve the API)."""
        issuer = check_url(issuer, "issuer")
        audiences = (audience,) if isinstance(audience, str) else tuple(audience)
        if not audiences or not all(isinstance(a, str) and a for a in audiences):
            raise ConfigError("audience must be a non-empty string (or strings)")
        algs = tuple(algorithms)
        unknown = [a for a in algs if a not in SUPPORTED_ALGS]
        if unknown or not algs:  # never "none", never HMAC: only asymmetric algs exist here
            raise ConfigError(f"algorithms must be among {', '.join(SUPPORTED_ALGS)}: {unknown}")
        self.jwks = JwksCache(
            issuer,
            ttl=jwks_ttl,
            refetch_interval=jwks_refetch_interval,
            algorithms=algs,
            http=http_client,
        )
        super().__init__(
            issuer,
            frozenset(audiences),
            self.jwks,
            leeway=leeway,
            cache_size=cache_size,
            max_token_bytes=max_token_bytes,
            clock=clock,
        )
        self.realm = realm if realm is not None else audiences[0]
        now = (clock or SystemClock()).now
        self.dpop = dpop if dpop is not None else ProofChecker(MemoryReplayCache(), now=now)
        self.revocation = revocation
        self._token_check = getattr(revocation, "is_token_revoked", None)
        self._revocation_blocks = bool(getattr(revocation, "blocking", True))

    def prefetch(self) -> None:
        """Fetch discovery and the JWKS now (e.g. at start-up); raises ``ConfigError``."""
        try:
            self.jwks.load()
        except FetchError as exc:
            raise ConfigError(f"cannot load the keys of {self.issuer}: {exc}") from None

    def close(self) -> None:
        self.jwks.close()

    def validate(self, token: str, required_scopes: Iterable[str] = ()) -> dict[str, Any]:
        """The token's claims if it is valid here and carries ``required_scopes``.

        May block on the network only when no keys are loaded yet or for a rate-limited
        re-fetch after an unknown ``kid``; prefer :meth:`validate_async` in async code.
        """
        try:
            verified = self._verified(token, _BLOCK)
            if self.revocation is not None:
                self._check_revoked(token, verified)
            refuse_bound_bearer(verified.claims, self.dpop.algs)
            return self._with_scopes(verified, required_scopes)
        except TokenError as error:
            error.realm = self.realm
            raise

    async def validate_async(
        self, token: str, required_scopes: Iterable[str] = ()
    ) -> dict[str, Any]:
        """:meth:`validate` for event loops: network and blocking checks run in a thread."""
        return await self._validate_async(token, required_scopes, None)

    async def validate_request_async(
        self,
        authorization: Sequence[str],
        dpop: Sequence[str],
        *,
        method: str,
        url: str,
        required_scopes: Iterable[str] = (),
        certificate: str | None = None,
    ) -> dict[str, Any]:
        """A request's ``Authorization`` and ``DPoP`` header values: a bearer token, or
        (RFC 9449 §7.1) a DPoP-bound token with its proof for ``method`` and ``url`` (the
        URL clients call, e.g. behind a proxy). Bound tokens sent as Bearer are refused.
        ``certificate``: the ``x5t#S256`` of the request's TLS client certificate, which
        a certificate-bound token (RFC 8705 §3) must name."""
        try:
            scheme, token = presented_token(authorization)
        except TokenError as error:
            error.realm = self.realm
            raise
        presented = PresentedProof(scheme, tuple(dpop), method, url, certificate)
        return await self._validate_async(token, required_scopes, presented)

    async def _validate_async(
        self, token: str, required_scopes: Iterable[str], presented: PresentedProof | None
    ) -> dict[str, Any]:
        try:
            try:
                verified = self._verified(token, _DEFER)
            except _NeedKeys as need:
                await asyncio.to_thread(self._fetch_keys, need.kid)
                verified = self._verified(token, _NO_IO, retry=True)
            if self.revocation is not None:
                if self._revocation_blocks:
                    await asyncio.to_thread(self._check_revoked, token, verified)
                else:
                    self._check_revoked(token, verified)
            if presented is None:
                refuse_bound_bearer(verified.claims, self.dpop.algs)
            else:
                await check_binding(self.dpop, verified.claims, token, presented)
            return self._with_scopes(verified, required_scopes)
        except TokenError as error:
            error.realm = self.realm
            raise

    def _check_revoked(self, token: str, verified: Verified) -> None:
        try:
            if self._token_check is not None:
                revoked = self._token_check(token, verified.claims)
            else:
                assert self.revocation is not None
                revoked = self.revocation.is_revoked(verified.jti)
        except Exception as exc:
            log.warning("revocation check failed (token refused): %s", exc)
            raise refused(
                Rule.REVOKED, "The token's revocation status could not be checked."
            ) from None
        if revoked:
            raise refused(Rule.REVOKED, "The access token was revoked.")

    @staticmethod
    def _with_scopes(verified: Verified, required: Iterable[str]) -> dict[str, Any]:
        if required:
            wanted = scope_tokens(required) if isinstance(required, str) else tuple(required)
            if not verified.scopes.issuperset(wanted):
                raise insufficient_scope(wanted)
        return dict(verified.claims)
