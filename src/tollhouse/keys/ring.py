"""The key ring of one process: hold the decrypted keys, keep them current, sign (RFC 7515).

A :class:`KeyRing` signs with the current key of each algorithm and publishes the
pending, signing and retired public keys (RFC 7517 §5; their phases are computed by
:mod:`tollhouse.keys.lifecycle`). :meth:`KeyRing.run_forever` re-reads the store
every ``reload_interval`` seconds, and at the moment a phase changes, so a rotation
made by the CLI or another instance reaches a running server without a restart and
without any request handler asking for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tollhouse.algorithms import DEFAULT_RSA_KEY_BITS, SIGNING_ALGS
from tollhouse.clock import Clock
from tollhouse.errors import ConfigError, Conflict
from tollhouse.keys.jws import Signer, compact
from tollhouse.keys.lifecycle import (
    DEFAULT_RETENTION,
    PENDING,
    SIGNING,
    KeyPhase,
    next_change,
    phases,
)
from tollhouse.keys.material import checked_alg, unseal
from tollhouse.keys.rotation import add_next_key
from tollhouse.models import SigningKey
from tollhouse.resource.at_jwt import check_crit, header_of, payload_of
from tollhouse.resource.cache import VerifiedTokenCache
from tollhouse.resource.errors import TokenError
from tollhouse.resource.jwk import UnusableKey, VerifyKey, b64decode, parse_jwk
from tollhouse.security.secretbox import SecretBox
from tollhouse.storage.ports import KeyStore

log = logging.getLogger("tollhouse.keys")

OFF_LOOP_ALGS = frozenset({"RS256"})
"""Signatures slow enough to make on another core: ``cryptography`` lets go of the GIL
while it makes an RSA signature, and an ES256 or EdDSA one costs less than the hand-off
to a thread would (bench/RESULTS.md)."""
MAX_TOKEN_BYTES = 16 * 1024
VERIFIED_CACHE_SIZE = 4096
"""Tokens whose signature :meth:`KeyRing.verify_jwt` remembers having checked, by
SHA-256 digest so no bearer token is held; least recently used out first. Only tokens
with a valid signature enter it: forged ones cost a verification each. What else a
token must pass is the caller's check, made on every call."""

_HeaderAndClaims = tuple[dict[str, Any], dict[str, Any]]


def spare_cores(workers: int = 1) -> int:
    """Signing threads for each of ``workers`` processes: the cores they may run on,
    less one per process for its event loop, shared out among them.

    With as many workers as cores there is no spare core: a signing thread would only
    take turns with its event loop and the other workers (bench/RESULTS.md)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = max(1, workers)
    return max(0, (cores or 1) - workers) // workers


@dataclass(frozen=True, slots=True)
class _State:
    signers: dict[str, Signer]
    """Every decrypted (signing or pending) key by kid."""
    by_alg: dict[str, Signer]
    """The signing key of each alg."""
    published: tuple[dict[str, Any], ...]
    verifiers: dict[str, VerifyKey] = field(default_factory=dict)
    """Every published (pending, signing or retired) public key by kid, parsed once."""


_EMPTY = _State(signers={}, by_alg={}, published=())


class KeyRing:
    """The signing keys of one process, cached after :meth:`load`."""

    def __init__(
        self,
        store: KeyStore,
        box: SecretBox,
        clock: Clock,
        alg: str = "ES256",
        reload_interval: int = 10,
        *,
        retention: int = DEFAULT_RETENTION,
        signing_threads: int | None = None,
        rsa_bits: int = DEFAULT_RSA_KEY_BITS,
    ) -> None:
        """``reload_interval``: seconds between two reads of the store by
        :meth:`run_forever` (at least 1). ``retention``: how long a retired key stays
        published (the longest token lifetime plus leeway; see
        :func:`tollhouse.keys.rotation.retention_for`). ``signing_threads``: threads
        for :data:`OFF_LOOP_ALGS` signatures in :meth:`sign_jwt_async` (default:
        :func:`spare_cores`; 0 signs on the event loop). ``rsa_bits``: the modulus of
        an RS256 key :meth:`ensure_key` creates."""
        if reload_interval < 1:
            raise ValueError("reload_interval must be at least 1 second")
        self._store = store
        self._box = box
        self._clock = clock
        self._alg = checked_alg(alg)
        self._interval = reload_interval
        self._retention = retention
        self._rsa_bits = rsa_bits
        self._state = _EMPTY
        self._loaded = False
        self._verified = VerifiedTokenCache[_HeaderAndClaims](VERIFIED_CACHE_SIZE)
        self._next_reload = 0
        threads = spare_cores() if signing_threads is None else signing_threads
        self._signing_pool = (
            ThreadPoolExecutor(threads, thread_name_prefix="tollhouse-sign") if threads else None
        )

    @property
    def default_alg(self) -> str:
        return self._alg

    @property
    def algorithms(self) -> tuple[str, ...]:
        """Algorithms this ring can sign with now (in :data:`SIGNING_ALGS` order)."""
        return tuple(alg for alg in SIGNING_ALGS if alg in self._state.by_alg)

    # --- holding and reloading ----------------------------------------------------------

    async def load(self) -> None:
        """Read every key from the store and decrypt the signing and pending ones.

        Raises ``ConfigError`` if such a key cannot be decrypted or is inconsistent.
        """
        records = await self._store.list_keys()
        now = self._clock.now()
        views = phases(records, now, self._retention)
        state = self._state_of(views)
        signing = {alg: signer.record.kid for alg, signer in state.by_alg.items()}
        before = {alg: signer.record.kid for alg, signer in self._state.by_alg.items()}
        if self._loaded and signing != before:
            log.info("signing keys reloaded; signing kids: %s", ", ".join(signing.values()))
        if state.verifiers.keys() != self._state.verifiers.keys():
            self._verified.clear()  # a key left (or joined) the published set
        self._state = state
        self._loaded = True
        self._next_reload = now + self._interval
        change = next_change(views, now)  # an activation or an end of publication
        if change is not None:
            self._next_reload = min(self._next_reload, change)

    async def reload(self) -> bool:
        """:meth:`load` now; True if it loaded. A failed reload keeps the keys already
        loaded, logs the reason, and is tried again after the next interval."""
        self._next_reload = self._clock.now() + self._interval
        try:
            await self.load()
        except Exception:
            log.exception("signing keys could not be reloaded; keeping the current ones")
            return False
        return True

    def seconds_to_reload(self) -> int:
        """Seconds until the next reload is due: the interval, or a sooner phase change."""
        return max(0, self._next_reload - self._clock.now())

    async def run_forever(self) -> None:
        """Keep the ring current while the server runs (a background task of each
        process, ``--workers`` ones included): reload when :meth:`seconds_to_reload`
        says, so every endpoint signs and publishes what the store holds within
        ``reload_interval`` seconds of a change. Runs until cancelled."""
        while True:
            await asyncio.sleep(self.seconds_to_reload())
            await self.reload()

    def _state_of(self, views: Sequence[KeyPhase]) -> _State:
        """The ring's next state for ``views``: reuses what it parsed and decrypted."""
        signers: dict[str, Signer] = {}
        by_alg: dict[str, Signer] = {}
        published: list[dict[str, Any]] = []
        verifiers: dict[str, VerifyKey] = {}
        for view in sorted(views, key=lambda v: v.key.created_at, reverse=True):
            record = view.key
            if not view.published:
                continue
            published.append(record.public_jwk)
            verifier = self._verifier(record)
            if verifier is not None:
                verifiers[record.kid] = verifier
            if view.phase not in (SIGNING, PENDING):
                continue  # retired: published, never decrypted again
            signers[record.kid] = signer = self._signer_of(record)
            if view.phase == SIGNING:
                by_alg.setdefault(record.alg, signer)
        return _State(signers, by_alg, tuple(published), verifiers)

    def _verifier(self, record: SigningKey) -> VerifyKey | None:
        known = self._state.verifiers.get(record.kid)
        if known is not None or record.alg not in SIGNING_ALGS:
            return known
        try:
            return parse_jwk(record.public_jwk)
        except UnusableKey:
            log.warning("published key %s cannot be parsed; skipped", record.kid)
            return None

    def _signer_of(self, record: SigningKey) -> Signer:
        known = self._state.signers.get(record.kid)
        if known is None:
            return Signer(record, unseal(record, self._box))  # pending too: a bad one shows now
        if known.record.private_ciphertext != record.private_ciphertext:
            return self._reopen(record, known)
        return Signer(record, known.sign, known.headers)  # the record's new metadata

    def _reopen(self, record: SigningKey, known: Signer) -> Signer:
        """A known key whose ciphertext changed: re-encrypted under a new master key
        (``tollhouse keys rewrap``) that this process does not have yet. The kid is the
        key's thumbprint, so the copy decrypted earlier is still that key: keep it."""
        try:
            return Signer(record, unseal(record, self._box))
        except ConfigError:
            log.warning(
                "signing key %s was re-encrypted under another master key; keeping the copy "
                "decrypted earlier. Restart with the new master key.",
                record.kid,
            )
            return Signer(record, known.sign, known.headers)

    async def ensure_key(self, alg: str | None = None) -> SigningKey:
        """The signing key for ``alg``, made first (:func:`add_next_key`) if none signs.

        Instances starting together on an empty database race here: each inserts the
        next generation of ``alg``, the store lets one win, the others load its key. One
        whose load came before the winner's commit and its read of the keys after it
        loads that key instead of inserting the generation after it.
        """
        alg = checked_alg(alg or self._alg)
        for _ in range(3):
            await self.load()
            if alg in self._state.by_alg:
                return self._state.by_alg[alg].record
            records = await self._store.list_keys()
            now = self._clock.now()
            views = phases(records, now, self._retention)
            if any(view.key.alg == alg and view.signs for view in views):
                continue  # another instance's key committed since load(): load it
            try:
                await add_next_key(
                    self._store,
                    self._box,
                    alg,
                    records,
                    now,
                    lead_time=0,
                    rsa_bits=self._rsa_bits,
                    retention=self._retention,
                )
            except Conflict:
                log.info("another instance created the %s signing key first", alg)
        await self.load()
        if alg not in self._state.by_alg:
            raise ConfigError(f"no {alg} signing key could be created; see the log")
        return self._state.by_alg[alg].record

    # --- publishing, signing, verifying -------------------------------------------------

    def signing_key(self, alg: str | None = None) -> SigningKey:
        """The current signing key for ``alg`` (default: the preferred one)."""
        return self._signer(alg).record

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """RFC 7517 §5 JWK Set of the pending, signing and retired public keys, newest
        first. A retired key leaves it once every token it signed has expired."""
        return {"keys": [dict(key) for key in self._state.published]}

    def sign_jwt(self, claims: dict[str, Any], *, typ: str, alg: str | None = None) -> str:
        """RFC 7515 §7.1 compact JWS of ``claims``, header ``{"alg", "typ", "kid"}``."""
        signer = self._signer(alg)
        signing_input = signer.signing_input(claims, typ)
        return compact(signing_input, signer.sign(signing_input))

    async def sign_jwt_async(
        self, claims: dict[str, Any], *, typ: str, alg: str | None = None
    ) -> str:
        """:meth:`sign_jwt`; an :data:`OFF_LOOP_ALGS` signature is made on a signing
        thread when there is one, so the event loop serves other requests meanwhile."""
        signer = self._signer(alg)
        signing_input = signer.signing_input(claims, typ)
        if self._signing_pool is None or signer.record.alg not in OFF_LOOP_ALGS:
            return compact(signing_input, signer.sign(signing_input))
        loop = asyncio.get_running_loop()
        signature = await loop.run_in_executor(self._signing_pool, signer.sign, signing_input)
        return compact(signing_input, signature)

    def close(self) -> None:
        """Stop the signing threads (a signature in progress finishes)."""
        if self._signing_pool is not None:
            self._signing_pool.shutdown(wait=False)

    def verify_jwt(self, token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(header, claims) of a compact JWS signed by one of our published keys, else
        None. Only the signature is checked here; the rest is the caller's rule (an ID
        Token given back as ``id_token_hint``, protocol/id_token.py). Access tokens are
        judged by the validation core instead (protocol/token_lookup.py).

        The segments are read as the validation core reads them (:mod:`.resource.at_jwt`):
        one strict base64url decoder, so a token has one spelling; a header with
        duplicate members, too deep, or with extensions (``crit``, RFC 7797 ``b64``) is
        refused; whatever the input, the answer is None, never an exception.
        """
        if len(token) > MAX_TOKEN_BYTES or token.count(".") != 2 or not token.isascii():
            return None
        digest = hashlib.sha256(token.encode()).digest()
        seen = self._verified.get(digest)
        if seen is not None:
            return dict(seen[0]), dict(seen[1])
        try:
            verified = self._verify(token)
        except (TokenError, ValueError):
            return None
        if verified is None:
            return None
        self._verified.put(digest, verified)  # only once the signature verified
        return dict(verified[0]), dict(verified[1])

    def _verify(self, token: str) -> _HeaderAndClaims | None:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = header_of(header_b64)
        check_crit(header)
        verifier = self._state.verifiers.get(str(header.get("kid")))
        if verifier is None or header.get("alg") != verifier.alg:
            return None
        signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
        if not verifier.verify(b64decode(signature_b64), signing_input):
            return None
        return header, payload_of(payload_b64)

    def _signer(self, alg: str | None) -> Signer:
        if not self._loaded:
            raise RuntimeError("KeyRing.load() must be awaited before signing")
        name = alg or self._alg
        signer = self._state.by_alg.get(name)
        if signer is None:
            raise ConfigError(f"no active {name} signing key; run `tollhouse keys rotate`")
        return signer
