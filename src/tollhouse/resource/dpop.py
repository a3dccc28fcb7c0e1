"""RFC 9449 DPoP proofs: the §4.3 checks, for the identity provider and resource servers.

One module judges every proof, at ``/token``, ``/userinfo``, in the resource library
and in the gateway. It knows no HTTP: the caller passes the ``DPoP`` header values it
received, the request's method and URL (built from the public URL, not from what a
proxy forwarded), and the access token at a resource. Nonces (§8) are the caller's:
a callable says whether the proof's ``nonce`` is acceptable.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, NamedTuple, Protocol
from urllib.parse import urlsplit, urlunsplit

from tollhouse.errors import InvalidDpopProof
from tollhouse.resource.errors import INVALID_DPOP_PROOF, INVALID_TOKEN, TokenError
from tollhouse.resource.jwk import PROOF_ALGS, b64decode
from tollhouse.resource.mtls import presents
from tollhouse.resource.proof_keys import ProofKeyCache, b64, json_segment

MAX_PROOF_LENGTH: Final = 8192
"""A proof carries one public key: an RSA-4096 JWK and its signature fit easily."""
DEFAULT_WINDOW: Final = 60
"""Seconds a proof's ``iat`` may differ from the server's clock (RFC 9449 §11.1)."""
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class ReplayCache(Protocol):
    """Remembers proof identifiers for ``ttl`` seconds, shared by every instance that
    accepts the same proofs (RFC 9449 §11.1)."""

    async def first_use(self, key: str, ttl: int) -> bool:
        """True the first time ``key`` is seen within ``ttl`` seconds; False after."""
        ...


class MemoryReplayCache:
    """One process's replay cache, bounded: the oldest entries go first when full.
    Enough for a single instance; several instances need a shared one (Redis)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._max = max_entries

    async def first_use(self, key: str, ttl: int) -> bool:
        now = time.monotonic()
        while self._seen and next(iter(self._seen.values())) <= now:
            self._seen.popitem(last=False)
        expires = self._seen.get(key)
        if expires is not None and expires > now:
            return False
        self._seen[key] = now + ttl
        if len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return True


class RedisReplayCache:
    """A replay cache in Redis, for an API served by several processes or hosts: one
    key per proof, ``<prefix>dpop:<hash>``, set only if absent, expiring with the
    window. An unreachable Redis refuses the proof (a replay could not be told)."""

    def __init__(
        self, redis_url: str, *, prefix: str = "tollhouse-api:", timeout: float = 0.5
    ) -> None:
        from redis.asyncio import Redis  # optional until a Redis cache is used

        self._redis = Redis.from_url(
            redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._prefix = prefix

    async def first_use(self, key: str, ttl: int) -> bool:
        from redis.exceptions import RedisError

        try:
            stored = await self._redis.set(f"{self._prefix}dpop:{key}", b"1", ex=ttl, nx=True)
        except (RedisError, OSError):
            raise InvalidDpopProof("DPoP replay protection is unavailable; retry.") from None
        return bool(stored)

    async def close(self) -> None:
        await self._redis.aclose()


class Proof(NamedTuple):
    """A proof that passed every check: its key's RFC 7638 thumbprint and claims. (One
    per request: a named tuple is built faster than a frozen dataclass.)"""

    jkt: str
    jti: str
    iat: int
    nonce: str | None


def access_token_hash(token: str) -> str:
    """RFC 9449 §4.2 ``ath``: base64url of the SHA-256 of the token's ASCII octets."""
    return b64(hashlib.sha256(token.encode("ascii", "replace")).digest())


def normalize_htu(url: str) -> str:
    """RFC 9449 §4.3 step 9: without query and fragment, after RFC 3986 §6.2.2 and
    §6.2.3 normalisation (case of scheme and host, default port, empty path)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidDpopProof("The htu claim is not a valid URL.") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", "", ""))


_normalized_htu: Final = functools.lru_cache(maxsize=256)(normalize_htu)
"""Requests to an API name a few URLs over and over; a refusal is never remembered."""


def _verified_header(proof: str, keys: ProofKeyCache) -> tuple[dict[str, Any], str]:
    """§4.3 steps 2-7: one compact JWS, a header that passes :func:`.checked_header`
    (or passed it before, with a good signature) and a signature that verifies with the
    header's key. Returns the payload and the key's thumbprint."""
    parts = proof.split(".") if len(proof) <= MAX_PROOF_LENGTH and proof.isascii() else ()
    if len(parts) != 3:
        raise InvalidDpopProof("The DPoP proof is not a compact JWS.")
    head, body, signature = parts
    known = keys.lookup(head)
    key = known or keys.check(head)
    try:
        raw_signature = b64decode(signature)
    except (ValueError, UnicodeError):
        raise InvalidDpopProof("The DPoP proof's signature is not base64url.") from None
    if not key.key.verify(raw_signature, f"{head}.{body}".encode("ascii")):
        raise InvalidDpopProof("The DPoP proof's signature does not verify.")
    if known is None:
        keys.remember(head, key)
    return json_segment(body, "payload"), key.jkt


def _string_claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidDpopProof(f"The DPoP proof lacks the {name} claim.")
    return value


NonceCheck = Callable[[str | None], None]
"""Raises :class:`~tollhouse.errors.UseDpopNonce` unless the proof's nonce will do."""


class ProofChecker:
    """RFC 9449 §4.3: every check a proof must pass, then its ``jti`` is spent."""

    def __init__(
        self,
        replay: ReplayCache,
        *,
        window: int = DEFAULT_WINDOW,
        algs: Sequence[str] = PROOF_ALGS,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._replay = replay
        self._window = window
        self._algs = tuple(a for a in algs if a in PROOF_ALGS)
        self._keys = ProofKeyCache(self._algs)
        self._now = now

    @property
    def algs(self) -> tuple[str, ...]:
        return self._algs

    async def check(
        self,
        headers: Sequence[str],
        *,
        method: str,
        url: str,
        access_token: str | None = None,
        nonce: NonceCheck | None = None,
    ) -> Proof:
        """``headers``: every ``DPoP`` header value of the request (§4.3 step 1: one)."""
        if len(headers) != 1:
            raise InvalidDpopProof("Send exactly one DPoP header.")
        claims, jkt = _verified_header(headers[0].strip(), self._keys)
        jti = _string_claim(claims, "jti")
        if len(jti) > 256:
            raise InvalidDpopProof("The DPoP proof's jti is too long.")
        if _string_claim(claims, "htm") != method:
            raise InvalidDpopProof("The DPoP proof's htm does not match the request method.")
        if _normalized_htu(_string_claim(claims, "htu")) != _normalized_htu(url):
            raise InvalidDpopProof("The DPoP proof's htu does not match the request URL.")
        iat = self._fresh_iat(claims.get("iat"))
        if access_token is not None:
            ath = _string_claim(claims, "ath")
            if not hmac.compare_digest(ath, access_token_hash(access_token)):
                raise InvalidDpopProof("The DPoP proof's ath does not match the access token.")
        proof_nonce = claims.get("nonce")
        if proof_nonce is not None and not isinstance(proof_nonce, str):
            raise InvalidDpopProof("The DPoP proof's nonce is not a string.")
        if nonce is not None:
            nonce(proof_nonce)
        await self._spend(jkt, jti)
        return Proof(jkt, jti, iat, proof_nonce)

    def _fresh_iat(self, iat: object) -> int:
        if isinstance(iat, bool) or not isinstance(iat, int | float):
            raise InvalidDpopProof("The DPoP proof lacks a numeric iat.")
        if abs(self._now() - iat) > self._window:
            raise InvalidDpopProof("The DPoP proof's iat is outside the accepted window.")
        return int(iat)

    async def _spend(self, jkt: str, jti: str) -> None:
        """§11.1: a ``jti`` is accepted once while its proof could be fresh (both sides
        of the window). Keyed by key and ``jti``, hashed to a fixed length."""
        key = hashlib.sha256(f"{jkt}.{jti}".encode()).hexdigest()
        if not await self._replay.first_use(key, 2 * self._window + 1):
            raise InvalidDpopProof("The DPoP proof was already used.")


class PresentedProof(NamedTuple):
    """What a request to a protected resource carried: the ``Authorization`` scheme,
    every ``DPoP`` header value, its method and its public URL, and the ``x5t#S256`` of
    its TLS client certificate (RFC 8705), if any. (A named tuple, as :class:`Proof`.)"""

    scheme: str
    headers: tuple[str, ...]
    method: str
    url: str
    certificate: str | None = None


def bound_jkt(claims: Mapping[str, Any]) -> str | None:
    """RFC 9449 §6.1: the thumbprint in ``cnf.jkt``; None for a bearer token."""
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    return jkt if isinstance(jkt, str) else None


def dpop_error(error: str, description: str, algs: Sequence[str]) -> TokenError:
    """A refusal with RFC 9449 §7.1's ``DPoP`` challenge."""
    refused = TokenError(error, description)
    refused.dpop_algs = tuple(algs)
    return refused


def refuse_bound_bearer(
    claims: Mapping[str, Any], algs: Sequence[str], certificate: str | None = None
) -> None:
    """RFC 9449 §7.2: a DPoP-bound token presented as a bearer token is refused; so is a
    certificate-bound one without its certificate (RFC 8705 §3)."""
    if bound_jkt(claims) is not None:
        raise dpop_error(INVALID_TOKEN, "This access token is DPoP-bound: use DPoP.", algs)
    if not presents(claims, certificate):
        raise TokenError(INVALID_TOKEN, "This access token is bound to another certificate.")


async def check_binding(
    checker: ProofChecker, claims: Mapping[str, Any], token: str, presented: PresentedProof
) -> None:
    """RFC 9449 §7.1: a DPoP-bound token comes with the DPoP scheme and a proof, for this
    request and this token (``ath``), signed by the key in its ``cnf.jkt``."""
    if presented.scheme != "dpop":
        refuse_bound_bearer(claims, checker.algs, presented.certificate)
        return
    if not presents(claims, presented.certificate):
        raise TokenError(INVALID_TOKEN, "This access token is bound to another certificate.")
    jkt = bound_jkt(claims)
    if jkt is None:
        raise dpop_error(INVALID_TOKEN, "This access token is not DPoP-bound.", checker.algs)
    try:
        proof = await checker.check(
            presented.headers, method=presented.method, url=presented.url, access_token=token
        )
    except InvalidDpopProof as error:
        raise dpop_error(INVALID_DPOP_PROOF, error.description, checker.algs) from None
    if not hmac.compare_digest(proof.jkt, jkt):
        raise dpop_error(INVALID_TOKEN, "The DPoP proof is not by this token's key.", checker.algs)
