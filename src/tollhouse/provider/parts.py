"""The small objects the provider owns besides the endpoints: how passwords are
checked off the event loop, what the pages and ``/metrics`` need of the configuration,
and the discovery document's cache."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path

from tollhouse.config import Settings
from tollhouse.protocol.results import JsonResult
from tollhouse.security.hash_gate import HashGate, default_concurrency
from tollhouse.security.passwords import PasswordHasher
from tollhouse.security.shared_slots import SlotLease


def password_check_slots(settings: Settings) -> int:
    """Password checks at once on the whole server (``TOLLHOUSE_PASSWORD_HASH_CONCURRENCY``,
    by default one per CPU), which ``--workers`` share (security/shared_slots.py)."""
    return settings.password_hash_concurrency or default_concurrency()


def hash_gate(settings: Settings, shared: SlotLease | None = None) -> HashGate:
    """A bound on argon2 checks at once (``TOLLHOUSE_PASSWORD_HASH_*``): the server's
    slots through ``shared``, else this process's share of them."""
    queue, queue_time = settings.password_hash_queue, settings.password_hash_queue_time
    if shared is not None:
        return HashGate(shared.count, queue, queue_time, shared)
    concurrency = max(1, password_check_slots(settings) // settings.workers)
    return HashGate(concurrency, queue, queue_time)


class OffloadedVerifier:
    """Runs argon2 verification and hashing in a worker thread, through the gate that
    bounds how many run at once (security/hash_gate.py), so the event loop keeps serving."""

    def __init__(self, hasher: PasswordHasher, gate: HashGate) -> None:
        self._hasher = hasher
        self._gate = gate

    async def verify(self, stored_hash: str, secret: str) -> bool:
        return await self._gate.run(self._hasher.verify, stored_hash, secret)

    async def dummy_verify(self) -> None:
        await self._gate.run(self._hasher.dummy_verify)

    def needs_rehash(self, stored_hash: str) -> bool:
        # Only parses the parameters out of the PHC string: cheap enough for the loop.
        return self._hasher.needs_rehash(stored_hash)

    async def hash(self, password: str) -> str:
        return await self._gate.run(self._hasher.hash, password)


@dataclass(frozen=True, slots=True)
class Hashers:
    users: PasswordHasher
    client_secrets: PasswordHasher
    """Verifies legacy argon2id client-secret rows only; new secrets are SHA-256 digests
    (security/client_secrets.py)."""

    @classmethod
    def production(cls) -> Hashers:
        return cls(PasswordHasher.for_users(), PasswordHasher.for_client_secrets())


class DiscoveryCache:
    """The last discovery document served and the inputs it was built from (web/routes.py
    builds it): one per provider, so providers of different settings never share one."""

    __slots__ = ("_key", "_result")

    def __init__(self) -> None:
        self._key: Hashable = None
        self._result: JsonResult | None = None

    def get(self, key: Hashable) -> JsonResult | None:
        return self._result if key == self._key else None

    def put(self, key: Hashable, result: JsonResult) -> None:
        self._key, self._result = key, result


@dataclass(frozen=True, slots=True)
class PageSettings:
    """What the built-in pages need of the configuration, and nothing else."""

    operator_name: str
    operator_logo: Path | None
    secure_cookies: bool
    """Whenever the public origin (the issuer) is https: served with TLS here, or
    behind a TLS-terminating proxy with ``--insecure-http`` on loopback."""

    @classmethod
    def from_settings(cls, settings: Settings, issuer: str) -> PageSettings:
        return cls(settings.operator_name, settings.operator_logo, issuer.startswith("https://"))


@dataclass(frozen=True, slots=True)
class MetricsAccess:
    """Who besides local callers may read ``/metrics`` on the main listener
    (web/metrics_access.py): holders of ``token``, or everyone when ``public``."""

    token: str | None = field(default=None, repr=False)
    public: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> MetricsAccess:
        return cls(settings.metrics_token, settings.metrics_public)
