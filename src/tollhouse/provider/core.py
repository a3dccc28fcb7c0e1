"""What every area of the provider is wired from: the settings, the stores, the clock,
the master key's box, the key ring, the security events, the outbound-URL guard."""

from __future__ import annotations

from dataclasses import dataclass

from tollhouse.clock import Clock
from tollhouse.config import Settings
from tollhouse.keys import KeyRing
from tollhouse.protocol.events import Events
from tollhouse.provider.parts import Hashers
from tollhouse.security.outbound import OutboundGuard
from tollhouse.security.secretbox import SecretBox
from tollhouse.security.shared_slots import SlotLease
from tollhouse.storage.ports import RevocationList, Storage


@dataclass(frozen=True, slots=True)
class Core:
    settings: Settings
    storage: Storage
    clock: Clock
    box: SecretBox
    keyring: KeyRing
    hashers: Hashers
    mirrors: tuple[RevocationList, ...]
    """Where revocations are copied besides the database (Redis when configured)."""
    events: Events
    outbound: OutboundGuard
    """Checks every URL the server fetches for someone else (security/outbound.py)."""
    password_slots: SlotLease | None = None
    """The server's password-check slots when its ``--workers`` share them
    (security/shared_slots.py); None: this process's own."""

    @property
    def issuer(self) -> str:
        return self.settings.issuer_url
