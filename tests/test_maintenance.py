"""Storage cleans itself: under a stream of short-lived grants the tables stay bounded."""

from __future__ import annotations

import base64
import itertools
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import text

from tests.storage import records as make
from tests.storage.records import NOW
from tollhouse.clock import FrozenClock
from tollhouse.config import load_settings
from tollhouse.maintenance import DUTY, MAX_REST, Purger
from tollhouse.models import Api, AuthMethod, Client, GrantType, User
from tollhouse.protocol import pkce
from tollhouse.protocol.client_auth import credentials_from
from tollhouse.protocol.endpoints.authorize import SignedIn
from tollhouse.protocol.requests import AuthorizationRequest, TokenRequest
from tollhouse.provider import Hashers, build_provider
from tollhouse.security.passwords import PasswordHasher
from tollhouse.storage.sql.storage import SqlStorage, open_storage

FAST = PasswordHasher.for_tests()
TABLES = ("authorization_codes", "refresh_tokens", "token_families", "access_tokens", "revocations")
VERIFIER = "m" * 43


async def test_tables_stay_bounded_under_a_stream_of_short_lived_grants(tmp_path: Path) -> None:
    clock = FrozenClock()
    storage = await open_storage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    settings = load_settings(
        issuer="https://idp.test",
        data_dir=tmp_path,
        master_key=base64.b64encode(b"m" * 32).decode(),
        access_token_ttl=60,
        code_ttl=10,
        refresh_token_ttl=120,
        refresh_token_absolute_ttl=300,
        purge_batch=50,
    )
    provider = await build_provider(settings, storage, clock=clock, hashers=Hashers(FAST, FAST))
    try:
        now = clock.now()
        await storage.add_api(Api("https://api.test", ("read",), now))
        await storage.add_client(
            Client(
                "c",
                "C",
                ("https://c.test/cb",),
                (GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN),
                AuthMethod.CLIENT_SECRET_BASIC,
                now,
                FAST.hash("secret"),
            )
        )
        await storage.add_user(User("u", "user", FAST.hash("pw"), now))
        creds = credentials_from("Basic " + base64.b64encode(b"c:secret").decode(), {})
        peak = 0
        for step in range(120):
            outcome = await provider.authorize.issue_code(
                _request(), SignedIn("u", clock.now(), None)
            )
            code = parse_qs(urlsplit(outcome.location).query)["code"][0]
            params = {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": "https://c.test/cb",
                "code_verifier": VERIFIER,
            }
            body = (await provider.token.handle(TokenRequest(params, creds))).body
            await provider.revocation.handle(TokenRequest({"token": body["access_token"]}, creds))
            await provider.token.handle(
                TokenRequest(
                    {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}, creds
                )
            )
            clock.advance(10)
            if step % 6 == 5:
                await provider.purger.run_once()
                peak = max(peak, max((await _counts(storage)).values()))
        # Lifetimes are at most 300 s and grants arrive every 10 s: about 30-60 live rows.
        assert 0 < peak <= 80
        clock.advance(400)
        await provider.purger.run_once()
        assert await _counts(storage) == dict.fromkeys(TABLES, 0)
    finally:
        await provider.close()


def _request() -> AuthorizationRequest:
    return AuthorizationRequest(
        client_id="c",
        redirect_uri="https://c.test/cb",
        redirect_uri_sent=True,
        scopes=("read",),
        audience="https://api.test",
        state=None,
        nonce=None,
        code_challenge=pkce.challenge_for(VERIFIER),
        code_challenge_method="S256",
    )


async def _counts(storage: object) -> dict[str, int]:
    engine = storage.engine  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        return {
            t: (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one() for t in TABLES
        }


class _Timed:
    """The real store, with the start and end of every purge call noted."""

    def __init__(self, store: SqlStorage) -> None:
        self.store = store
        self.calls: list[tuple[float, float]] = []

    @property
    def shares_writer(self) -> bool:
        return self.store.shares_writer

    async def purge_expired(
        self, now: int, batch: int = 1000, *, drained: set[str] | None = None
    ) -> int:
        started = time.monotonic()
        try:
            return await self.store.purge_expired(now, batch, drained=drained)
        finally:
            self.calls.append((started, time.monotonic()))


async def test_a_backlog_is_purged_in_one_run_resting_between_batches(tmp_path: Path) -> None:
    """More than the old cap of 20 batches in one run, and after each full batch a rest
    four times as long as the batch took, up to a bound (grants get the SQLite writer
    meanwhile)."""
    storage = await open_storage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        await storage.add_client(make.client())
        await storage.add_user(make.user())
        await storage.add_family(make.family())
        for start in range(0, 2_500, 500):
            await storage.record_access_tokens(
                [make.access_token(f"jti-{n}", expires_at=NOW) for n in range(start, start + 500)]
            )
        timed = _Timed(storage)
        purger = Purger(timed, FrozenClock(NOW + 1), interval=60, batch=100)
        assert await purger.run_once() == 2_500
        assert len(timed.calls) == 26  # 25 full batches, then one that finds nothing
        for (start, end), (following, _) in itertools.pairwise(timed.calls):
            rest = min((end - start) * (1 - DUTY) / DUTY, MAX_REST)
            assert following - end >= rest - 0.002
        assert (await _counts(storage))["access_tokens"] == 0
    finally:
        await storage.close()
