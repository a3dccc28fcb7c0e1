"""JWKS behaviour against a real ``tollhouse serve``: rotation and forged-kid floods."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time

import httpx

from tests.e2e.conftest import SENSORS, Server
from tests.resource.conftest import b64, b64json, issue_token
from tollhouse.keys import generate
from tollhouse.keys.lifecycle import STORED_RETIRED as RETIRED
from tollhouse.resource import TokenError, TokenValidator
from tollhouse.resource.jwk import b64decode
from tollhouse.security.master_key import load_master_key
from tollhouse.security.secretbox import SecretBox
from tollhouse.storage.sql.storage import open_storage


def kid_of(token: str) -> str:
    return str(json.loads(b64decode(token.split(".")[0]))["kid"])


async def rotate(server: Server, old_kid: str) -> str:
    """What ``tollhouse keys rotate`` + ``retire`` do: a new active key, the old one retired."""
    storage = await open_storage(server.database_url)
    try:
        box = SecretBox(load_master_key(None, server.data_dir).key)
        now = int(time.time())
        record = generate("ES256", box, now + 1)  # newer than the old one
        await storage.add_key(record)
        assert await storage.set_key_status(old_kid, RETIRED, now)
        return record.kid
    finally:
        await storage.close()


class CountingClient(httpx.Client):
    def __init__(self, path: str) -> None:
        self.path = path
        self.times: list[float] = []
        super().__init__(timeout=5, event_hooks={"request": [self._count]})

    def _count(self, request: httpx.Request) -> None:
        if request.url.path == self.path:
            self.times.append(time.monotonic())


def test_real_token_is_accepted(idp: Server) -> None:
    v = TokenValidator(idp.base_url, SENSORS)
    try:
        claims = v.validate(issue_token(idp), ["read_sensors"])
        assert claims["client_id"] == idp.seed.confidential_id
        assert claims["sub"] == idp.seed.user_id
    finally:
        v.close()


def test_key_rotation_on_the_idp_is_picked_up_without_restart(idp: Server) -> None:
    v = TokenValidator(idp.base_url, SENSORS, jwks_refetch_interval=0.2)
    try:
        old_token = issue_token(idp)
        v.validate(old_token, ["read_sensors"])
        new_kid = asyncio.run(rotate(idp, kid_of(old_token)))
        deadline = time.monotonic() + 15
        while True:  # the IdP reloads its keys every second (TOLLHOUSE_KEY_RELOAD_INTERVAL)
            new_token = issue_token(idp)
            if kid_of(new_token) == new_kid:
                break
            assert time.monotonic() < deadline, "the IdP never signed with the new key"
            time.sleep(0.3)
        assert v.validate(new_token, ["read_sensors"])["aud"] == SENSORS
        assert v.validate(old_token)["aud"] == SENSORS  # retired keys stay published
        assert v.jwks.fetches == 2
    finally:
        v.close()


def test_forged_kid_flood_causes_at_most_one_refetch_per_interval(idp: Server) -> None:
    http = CountingClient("/jwks.json")
    interval = 0.5
    v = TokenValidator(
        idp.base_url, SENSORS, jwks_refetch_interval=interval, cache_size=0, http_client=http
    )
    try:
        token = issue_token(idp)
        v.validate(token)
        header = json.loads(b64decode(token.split(".")[0]))
        _, payload, signature = token.split(".")
        started = time.monotonic()
        refused = 0
        while time.monotonic() - started < 2.0:
            forged = {**header, "kid": b64(secrets.token_bytes(16))}
            try:
                v.validate(f"{b64json(forged)}.{payload}.{signature}")
            except TokenError as error:
                assert "unknown key" in error.description
                refused += 1
        assert refused > 100
        fetch_times = http.times[1:]  # the first is the initial load
        assert 1 <= len(fetch_times) <= 2.0 / interval + 1
        gaps = [b - a for a, b in itertools.pairwise(fetch_times)]
        assert all(gap >= interval * 0.95 for gap in gaps), gaps
        v.validate(token)  # the real key still works throughout
    finally:
        v.close()
        http.close()  # the validator closes only clients it made
