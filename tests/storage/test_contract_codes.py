"""The storage contract for authorization codes (RFC 6749 §4.1), on every backend.

A code is consumed once, by one write that also records what its redemption issues:
the access token's ``jti`` and ``exp`` (and the token's record), and the refresh token
family with its first token. A reuse that finds the code used finds all of it (§4.1.2), with nothing left
to wait for.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from tests.storage import records as make
from tests.storage.records import NOW
from tollhouse.errors import Conflict
from tollhouse.models import AccessTokenRecord
from tollhouse.storage.ports import IssuedByCode, Storage

EXP = NOW + 901


def access_record(jti: str, family_id: str | None) -> AccessTokenRecord:
    return AccessTokenRecord(jti, "client-1", "sub-alice", EXP, NOW + 1, family_id)


def issued(
    jti: str = "jti-first", family_id: str | None = "family-1", *, record: bool = True
) -> IssuedByCode:
    """What a redemption issues: with ``family_id``, a family and its first token; with
    ``record``, the access token's record."""
    access = access_record(jti, family_id) if record else None
    if family_id is None:
        return IssuedByCode(jti, EXP, access_token=access)
    token = make.refresh_token(f"refresh-of-{family_id}", family_id=family_id)
    return IssuedByCode(
        jti, EXP, family=make.family(family_id), first_token=token, access_token=access
    )


async def with_code(storage: Storage) -> None:
    await storage.add_client(make.client())
    await storage.add_user(make.user())
    await storage.add_code(make.code())


async def test_code_round_trips(storage: Storage) -> None:
    await storage.add_client(make.client())
    await storage.add_user(make.user())
    full = make.code("full")
    bare = make.code(
        "bare", code_challenge=None, code_challenge_method=None, session_id=None, nonce=None
    )
    await storage.add_code(full)
    await storage.add_code(bare)
    assert await storage.get_code("full") == full
    assert await storage.get_code("bare") == bare
    assert await storage.get_code("nope") is None


async def test_code_is_consumed_exactly_once(storage: Storage) -> None:
    await with_code(storage)
    first = await storage.consume_code("code-hash-1", NOW + 1)
    assert first == dataclasses.replace(make.code(), used_at=NOW + 1)
    assert await storage.consume_code("code-hash-1", NOW + 2) is None


async def test_expired_code_cannot_be_consumed(storage: Storage) -> None:
    await storage.add_client(make.client())
    await storage.add_user(make.user())
    await storage.add_code(make.code(expires_at=NOW + 60))
    assert await storage.consume_code("code-hash-1", NOW + 60, issued()) is None
    assert await storage.get_code("code-hash-1") == make.code(expires_at=NOW + 60)
    assert await storage.get_family("family-1") is None


async def test_unknown_code_cannot_be_consumed(storage: Storage) -> None:
    await storage.add_client(make.client())
    assert await storage.consume_code("nope", NOW, issued()) is None
    assert await storage.get_family("family-1") is None


async def test_consuming_a_code_records_what_it_issued(storage: Storage) -> None:
    await with_code(storage)
    consumed = await storage.consume_code("code-hash-1", NOW + 1, issued())
    recorded = dataclasses.replace(
        make.code(), used_at=NOW + 1, issued_jti="jti-first", issued_exp=EXP, family_id="family-1"
    )
    assert consumed == recorded
    assert await storage.get_code("code-hash-1") == recorded
    # The family and its first token were stored by the same write.
    assert await storage.get_family("family-1") == make.family()
    first = make.refresh_token("refresh-of-family-1")
    assert await storage.get_refresh_token("refresh-of-family-1") == first
    assert await storage.get_access_token("jti-first") == access_record("jti-first", "family-1")


@pytest.mark.parametrize("family_id", ["family-1", None])
async def test_a_code_consumed_without_the_access_record_leaves_it_to_the_caller(
    storage: Storage, family_id: str | None
) -> None:
    await with_code(storage)
    assert await storage.consume_code(
        "code-hash-1", NOW + 1, issued(family_id=family_id, record=False)
    )
    assert await storage.get_access_token("jti-first") is None
    consumed = await storage.get_code("code-hash-1")
    assert consumed is not None and consumed.issued_jti == "jti-first"


async def test_a_lost_consume_writes_nothing(storage: Storage) -> None:
    await with_code(storage)
    await storage.consume_code("code-hash-1", NOW + 1, issued())
    assert await storage.consume_code("code-hash-1", NOW + 2, issued("jti-2", "family-2")) is None
    reused = await storage.get_code("code-hash-1")
    assert reused is not None
    assert (reused.used_at, reused.issued_jti, reused.issued_exp, reused.family_id) == (
        NOW + 1,
        "jti-first",
        EXP,
        "family-1",
    )
    assert await storage.get_family("family-2") is None
    assert await storage.get_refresh_token("refresh-of-family-2") is None
    assert await storage.get_access_token("jti-2") is None


async def test_of_concurrent_consumes_one_wins_and_its_record_stays(storage: Storage) -> None:
    await with_code(storage)
    attempts = [issued(f"jti-{n}", f"family-{n}") for n in range(8)]
    results = await asyncio.gather(
        *(storage.consume_code("code-hash-1", NOW + 1, attempt) for attempt in attempts)
    )
    winners = [n for n, result in enumerate(results) if result is not None]
    assert len(winners) == 1
    code = await storage.get_code("code-hash-1")
    assert code is not None
    assert (code.issued_jti, code.family_id) == (f"jti-{winners[0]}", f"family-{winners[0]}")
    stored = [n for n in range(8) if await storage.get_family(f"family-{n}") is not None]
    assert stored == winners
    recorded = [n for n in range(8) if await storage.get_access_token(f"jti-{n}") is not None]
    assert recorded == winners


async def refused_consume(storage: Storage) -> None:
    """Consuming code-hash-1 with family-1 and refresh-of-family-1 is a Conflict, and the
    code stays unused, with no record."""
    with pytest.raises(Conflict):
        await storage.consume_code("code-hash-1", NOW + 1, issued())
    assert await storage.get_code("code-hash-1") == make.code()


async def test_a_refused_family_leaves_the_code_unused(storage: Storage) -> None:
    """One write: when the family cannot be stored, nothing of it is."""
    await with_code(storage)
    await storage.add_family(make.family())  # already there: the insert conflicts
    await refused_consume(storage)
    assert await storage.get_refresh_token("refresh-of-family-1") is None


async def test_a_refused_first_token_leaves_no_family_behind(storage: Storage) -> None:
    """The consume, the family and its first token stand or fall together (on
    PostgreSQL one statement with two WITH clauses, on SQLite one transaction)."""
    await with_code(storage)
    # refresh-of-family-1 is taken by another family: the first token's insert conflicts.
    await storage.add_refresh_token(
        make.refresh_token("refresh-of-family-1", family_id="family-0"),
        family=make.family("family-0"),
    )
    await refused_consume(storage)
    assert await storage.get_family("family-1") is None
    held = await storage.get_refresh_token("refresh-of-family-1")
    assert held is not None and held.family_id == "family-0"


async def test_a_refused_access_record_leaves_the_code_unused(storage: Storage) -> None:
    """The access token's record stands or falls with the consume and the family."""
    await with_code(storage)
    await storage.record_access_token(access_record("jti-first", None))  # the jti is taken
    await refused_consume(storage)
    assert await storage.get_family("family-1") is None
    assert await storage.get_refresh_token("refresh-of-family-1") is None


async def test_code_redeemed_without_a_refresh_token_records_no_family(
    storage: Storage,
) -> None:
    await with_code(storage)
    await storage.consume_code("code-hash-1", NOW + 1, issued(family_id=None))
    reused = await storage.get_code("code-hash-1")
    assert reused is not None
    assert (reused.issued_jti, reused.issued_exp, reused.family_id) == ("jti-first", EXP, None)
    assert await storage.get_access_token("jti-first") == access_record("jti-first", None)


def test_a_family_comes_with_its_first_token() -> None:
    with pytest.raises(ValueError):
        IssuedByCode("jti", EXP, family=make.family())
    with pytest.raises(ValueError):
        IssuedByCode("jti", EXP, first_token=make.refresh_token())


def test_the_access_record_is_of_the_issued_token() -> None:
    with pytest.raises(ValueError):
        IssuedByCode("jti", EXP, access_token=access_record("other-jti", None))
    with pytest.raises(ValueError):
        IssuedByCode("jti", EXP + 1, access_token=access_record("jti", None))


async def test_duplicate_code_is_a_conflict(storage: Storage) -> None:
    await with_code(storage)
    with pytest.raises(Conflict):
        await storage.add_code(make.code())


async def test_code_for_unknown_client_or_user_is_a_conflict(storage: Storage) -> None:
    await storage.add_client(make.client())
    await storage.add_user(make.user())
    with pytest.raises(Conflict):
        await storage.add_code(make.code(client_id="nope"))
    with pytest.raises(Conflict):
        await storage.add_code(make.code(user_id="nope"))
    assert await storage.get_code("code-hash-1") is None
