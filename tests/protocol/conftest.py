"""A provider wired on the in-memory storage, a frozen clock and real crypto."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.security.dns import ScriptedDns
from tollhouse.clock import FrozenClock
from tollhouse.config import load_settings
from tollhouse.keys import generate
from tollhouse.models import Api, AuthMethod, Client, GrantType, SigningKey, User
from tollhouse.protocol.logout import LogoutNotification
from tollhouse.protocol.sessions import SignedIn
from tollhouse.provider import Hashers, Provider, build_provider
from tollhouse.security.outbound import AllowList, OutboundGuard
from tollhouse.security.passwords import PasswordHasher
from tollhouse.security.secretbox import SecretBox
from tollhouse.storage.memory import MemoryStorage

ISSUER = "https://idp.test"
CALLBACK = "https://app.test/cb"
SECRET = "client-secret-" + "z" * 30
FAST = PasswordHasher.for_tests()


class RecordedLogouts:
    """A logout sender that keeps what it was given (no network in unit tests)."""

    def __init__(self) -> None:
        self.sent: list[LogoutNotification] = []

    async def send(self, notifications: Sequence[LogoutNotification]) -> None:
        self.sent.extend(notifications)


@dataclass
class World:
    provider: Provider
    storage: MemoryStorage
    clock: FrozenClock
    alice: SignedIn
    logouts: RecordedLogouts = field(default_factory=RecordedLogouts)


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    """Override in a test module to build the provider with other settings."""
    return {}


_KEYS: list[SigningKey] = []


def _cached_keys(box: SecretBox) -> list[SigningKey]:
    """Generating RSA keys per test is slow: every world shares one ES256 and one RS256."""
    if not _KEYS:
        _KEYS.extend(generate(alg, box, 1_700_000_000) for alg in ("ES256", "RS256"))
    return _KEYS


@pytest.fixture
async def world(tmp_path: Path, settings_overrides: dict[str, object]) -> AsyncIterator[World]:
    storage = MemoryStorage()
    clock = FrozenClock()
    settings = load_settings(
        issuer=ISSUER,
        data_dir=tmp_path,
        master_key=base64.b64encode(b"k" * 32).decode(),
        **settings_overrides,
    )
    for key in _cached_keys(SecretBox(b"k" * 32)):
        await storage.add_key(key)
    logouts = RecordedLogouts()
    provider = await build_provider(
        settings,
        storage,
        clock=clock,
        hashers=Hashers(FAST, FAST),
        logout_sender=logouts,
        outbound=OutboundGuard(AllowList.parse(settings.outbound_allow), resolver=ScriptedDns()),
    )
    now = clock.now()
    await storage.add_api(Api("https://sensors.test", ("read_sensors", "write_sensors"), now))
    await storage.add_client(
        Client(
            "web",
            "Web App",
            (CALLBACK,),
            (GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN),
            AuthMethod.CLIENT_SECRET_BASIC,
            now,
            FAST.hash(SECRET),
        )
    )
    await storage.add_client(
        Client(
            "spa",
            "SPA",
            ("https://spa.test/cb", "https://spa.test/cb2"),
            (GrantType.AUTHORIZATION_CODE,),
            AuthMethod.NONE,
            now,
        )
    )
    await storage.add_client(
        Client(
            "m2m",
            "Machine",
            (),
            (GrantType.CLIENT_CREDENTIALS,),
            AuthMethod.CLIENT_SECRET_BASIC,
            now,
            FAST.hash(SECRET),
        )
    )
    await storage.add_user(User("alice-id", "alice", FAST.hash("alice password"), now))
    yield World(provider, storage, clock, SignedIn("alice-id", now, None), logouts)
    await provider.close()
