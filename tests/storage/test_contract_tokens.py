"""The storage contract for tokens: the revocation feed, refresh token families,
refresh tokens, access token records, and purging what expired.

Like ``test_contract``, each test runs on memory, a SQLite file and PostgreSQL (the
``storage`` fixture of ``conftest``), and its name states the rule it keeps.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.storage import records as make
from tests.storage.records import NOW
from tollhouse.errors import Conflict
from tollhouse.models import RefreshToken
from tollhouse.storage.ports import Storage


async def with_family(storage: Storage, family_id: str = "family-1") -> None:
    """The client (and user) a family hangs off, and the family."""
    await storage.add_client(make.client())
    await storage.add_user(make.user())
    await storage.add_family(make.family(family_id))


# The revocation feed ------------------------------------------------------------------


async def test_revocation_feed_is_ordered_by_sequence(storage: Storage) -> None:
    for jti in ("jti-c", "jti-a", "jti-b"):
        await storage.revoke(make.revocation(jti))
    feed = await storage.revocations_since(0, NOW, 10)
    assert [r.jti for r in feed] == ["jti-c", "jti-a", "jti-b"]
    seqs = [r.seq for r in feed]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 3
    assert seqs[0] > 0


async def test_feed_resumes_after_its_cursor(storage: Storage) -> None:
    for jti in ("jti-1", "jti-2", "jti-3"):
        await storage.revoke(make.revocation(jti))
    first = await storage.revocations_since(0, NOW, 1)
    assert [r.jti for r in first] == ["jti-1"]
    rest = await storage.revocations_since(first[-1].seq, NOW, 10)
    assert [r.jti for r in rest] == ["jti-2", "jti-3"]
    assert await storage.revocations_since(rest[-1].seq, NOW, 10) == []


async def test_feed_returns_what_was_revoked(storage: Storage) -> None:
    revocation = make.revocation(expires_at=NOW + 900, revoked_at=NOW - 3, reason="reuse")
    await storage.revoke(revocation)
    [fed] = await storage.revocations_since(0, NOW, 10)
    assert fed == dataclasses.replace(revocation, seq=fed.seq)


async def test_feed_skips_expired_revocations(storage: Storage) -> None:
    await storage.revoke(make.revocation("expired", expires_at=NOW))
    await storage.revoke(make.revocation("live", expires_at=NOW + 1))
    assert [r.jti for r in await storage.revocations_since(0, NOW, 10)] == ["live"]
    assert [r.jti for r in await storage.revocations_between(0, NOW, 10)] == ["live"]
    assert await storage.revocations_since(0, NOW + 1, 10) == []


async def test_first_revocation_of_a_token_wins(storage: Storage) -> None:
    await storage.revoke(make.revocation("jti-1", reason="logout"))
    await storage.revoke(make.revocation("jti-2"))
    await storage.revoke(make.revocation("jti-1", reason="reuse", revoked_at=NOW + 5))
    feed = await storage.revocations_since(0, NOW, 10)
    assert [(r.jti, r.reason, r.revoked_at) for r in feed] == [
        ("jti-1", "logout", NOW),
        ("jti-2", "revoked", NOW),
    ]


async def test_sequence_numbers_are_never_reused_after_a_purge(storage: Storage) -> None:
    await storage.revoke(make.revocation("jti-live", expires_at=NOW + 900))
    await storage.revoke(make.revocation("jti-newest", expires_at=NOW))
    newest = (await storage.revocations_since(0, NOW - 1, 10))[-1]
    assert newest.jti == "jti-newest"
    assert await storage.purge_expired(NOW) == 1
    await storage.revoke(make.revocation("jti-after", expires_at=NOW + 900))
    [after] = await storage.revocations_since(newest.seq, NOW, 10)
    assert after.jti == "jti-after"
    assert after.seq > newest.seq


async def test_feed_window_reads_by_revocation_time_in_sequence_order(storage: Storage) -> None:
    await storage.revoke(make.revocation("late", revoked_at=NOW + 5))
    await storage.revoke(make.revocation("early", revoked_at=NOW - 10))
    await storage.revoke(make.revocation("on-time", revoked_at=NOW))
    window = await storage.revocations_between(NOW, NOW, 10)
    assert [r.jti for r in window] == ["late", "on-time"]
    assert [r.jti for r in await storage.revocations_between(NOW, NOW, 1)] == ["late"]


# Refresh token families --------------------------------------------------------------


async def test_family_round_trips(storage: Storage) -> None:
    await with_family(storage)
    assert await storage.get_family("family-1") == make.family()
    assert await storage.get_family("nope") is None


async def test_family_of_unknown_client_is_a_conflict(storage: Storage) -> None:
    with pytest.raises(Conflict):
        await storage.add_family(make.family(client_id="nope"))
    assert await storage.get_family("family-1") is None


async def test_duplicate_family_is_a_conflict(storage: Storage) -> None:
    await with_family(storage)
    with pytest.raises(Conflict, match="family-1"):
        await storage.add_family(make.family())


async def test_family_subject_may_be_a_client_rather_than_a_user(storage: Storage) -> None:
    await storage.add_client(make.client())
    machine = make.family(subject="client-1")
    await storage.add_family(machine)
    assert await storage.get_family("family-1") == machine


async def test_revoking_a_family_is_idempotent(storage: Storage) -> None:
    await with_family(storage)
    assert await storage.revoke_family("family-1", NOW + 10, "refresh_token_reuse") is True
    assert await storage.revoke_family("family-1", NOW + 20, "logout") is False
    revoked = await storage.get_family("family-1")
    assert revoked is not None
    assert (revoked.revoked_at, revoked.revoked_reason) == (NOW + 10, "refresh_token_reuse")


async def test_revoking_an_unknown_family_changes_nothing(storage: Storage) -> None:
    assert await storage.revoke_family("nope", NOW, "logout") is False


async def test_families_of_lists_unrevoked_families_matching_every_filter(
    storage: Storage,
) -> None:
    await storage.add_client(make.client("client-1"))
    await storage.add_client(make.client("client-2"))
    await storage.add_family(make.family("f-alice-1", subject="sub-alice", created_at=NOW + 1))
    await storage.add_family(make.family("f-bob-1", subject="sub-bob"))
    await storage.add_family(make.family("f-alice-2", client_id="client-2", subject="sub-alice"))
    await storage.add_family(make.family("f-revoked", subject="sub-alice"))
    await storage.revoke_family("f-revoked", NOW, "logout")

    async def ids(**filters: str) -> list[str]:
        return [f.family_id for f in await storage.families_of(**filters)]

    assert await ids(client_id="client-1") == ["f-bob-1", "f-alice-1"]
    assert await ids(subject="sub-alice") == ["f-alice-2", "f-alice-1"]
    assert await ids(client_id="client-1", subject="sub-alice") == ["f-alice-1"]
    assert await ids(client_id="client-3") == []


async def test_families_of_needs_a_filter(storage: Storage) -> None:
    with pytest.raises(ValueError, match="client_id, a subject or a sid"):
        await storage.families_of()


async def test_deleting_a_client_cascades_its_families(storage: Storage) -> None:
    await with_family(storage)
    await storage.add_client(make.client("client-2"))
    await storage.add_family(make.family("family-2", client_id="client-2"))
    await storage.add_refresh_token(make.refresh_token("token-1"))
    await storage.add_refresh_token(
        make.refresh_token("token-2", family_id="family-2", client_id="client-2")
    )
    assert await storage.delete_client("client-1")
    assert await storage.get_family("family-1") is None
    assert await storage.get_refresh_token("token-1") is None
    assert await storage.get_family("family-2") is not None
    assert await storage.get_refresh_token("token-2") is not None


# Refresh tokens --------------------------------------------------------------------------


async def test_refresh_token_round_trips(storage: Storage) -> None:
    await with_family(storage)
    full = make.refresh_token("full")
    bare = make.refresh_token("bare", auth_time=None, scopes=())
    await storage.add_refresh_token(full)
    await storage.add_refresh_token(bare)
    assert await storage.get_refresh_token("full") == full
    assert await storage.get_refresh_token("bare") == bare
    assert await storage.get_refresh_token("nope") is None


async def test_refresh_token_of_unknown_family_is_a_conflict(storage: Storage) -> None:
    await with_family(storage)
    with pytest.raises(Conflict):
        await storage.add_refresh_token(make.refresh_token(family_id="nope"))
    assert await storage.get_refresh_token("refresh-hash-1") is None


async def test_duplicate_refresh_token_is_a_conflict(storage: Storage) -> None:
    await with_family(storage)
    await storage.add_refresh_token(make.refresh_token())
    with pytest.raises(Conflict):
        await storage.add_refresh_token(make.refresh_token())


def successor(token_hash: str = "refresh-hash-2", **extra: object) -> RefreshToken:
    return make.refresh_token(token_hash, created_at=NOW + 1, **extra)


async def test_rotation_consumes_the_token_and_stores_its_successor(storage: Storage) -> None:
    await with_family(storage)
    await storage.add_refresh_token(make.refresh_token())
    rotated = await storage.rotate_refresh_token(
        "refresh-hash-1", successor(), NOW + 1, replaces="refresh-hash-1"
    )
    assert rotated == dataclasses.replace(make.refresh_token(), used_at=NOW + 1)
    assert await storage.get_refresh_token("refresh-hash-2") == successor()
    old = await storage.get_refresh_token("refresh-hash-1")
    assert old is not None
    assert (old.used_at, old.replaced_by) == (NOW + 1, "refresh-hash-2")


async def test_a_token_is_rotated_exactly_once(storage: Storage) -> None:
    await with_family(storage)
    await storage.add_refresh_token(make.refresh_token())
    assert await storage.rotate_refresh_token(
        "refresh-hash-1", successor(), NOW + 1, replaces="refresh-hash-1"
    )
    again = await storage.rotate_refresh_token(
        "refresh-hash-1", successor("refresh-hash-3"), NOW + 2, replaces="refresh-hash-1"
    )
    assert again is None
    assert await storage.get_refresh_token("refresh-hash-3") is None
    old = await storage.get_refresh_token("refresh-hash-1")
    assert old is not None
    assert (old.used_at, old.replaced_by) == (NOW + 1, "refresh-hash-2")


async def test_an_expired_token_is_not_rotated_and_nothing_is_written(storage: Storage) -> None:
    await with_family(storage)
    await storage.add_refresh_token(make.refresh_token(expires_at=NOW + 60))
    rotated = await storage.rotate_refresh_token(
        "refresh-hash-1", successor(), NOW + 60, replaces="refresh-hash-1"
    )
    assert rotated is None
    assert await storage.get_refresh_token("refresh-hash-1") == make.refresh_token(
        expires_at=NOW + 60
    )
    assert await storage.get_refresh_token("refresh-hash-2") is None


async def test_an_unknown_token_is_not_rotated(storage: Storage) -> None:
    await with_family(storage)
    assert await storage.rotate_refresh_token("nope", successor(), NOW, replaces="nope") is None
    assert await storage.get_refresh_token("refresh-hash-2") is None


@pytest.mark.parametrize("dead", ["revoked", "expired"])
async def test_a_token_of_a_dead_family_is_not_rotated(storage: Storage, dead: str) -> None:
    await storage.add_client(make.client())
    await storage.add_user(make.user())
    await storage.add_family(make.family(expires_at=NOW + 100))
    await storage.add_refresh_token(make.refresh_token())
    when = NOW + 1
    if dead == "revoked":
        assert await storage.revoke_family("family-1", NOW, "test")
    else:
        when = NOW + 100
    rotated = await storage.rotate_refresh_token(
        "refresh-hash-1", successor(), when, replaces="refresh-hash-1"
    )
    assert rotated is None
    assert await storage.get_refresh_token("refresh-hash-1") == make.refresh_token()
    assert await storage.get_refresh_token("refresh-hash-2") is None


async def test_a_clashing_successor_is_a_conflict_and_the_token_stays_unused(
    storage: Storage,
) -> None:
    await with_family(storage)
    await storage.add_refresh_token(make.refresh_token())
    await storage.add_refresh_token(make.refresh_token("taken"))
    with pytest.raises(Conflict):
        await storage.rotate_refresh_token(
            "refresh-hash-1", successor("taken"), NOW + 1, replaces="refresh-hash-1"
        )
    assert await storage.get_refresh_token("refresh-hash-1") == make.refresh_token()


async def test_a_retry_rotates_the_unused_successor_and_repoints_the_old_token(
    storage: Storage,
) -> None:
    """The grace-period retry: the old token's successor is consumed in its place, and
    the old token now points at the newest successor."""
    await with_family(storage)
    await storage.add_refresh_token(make.refresh_token("old"))
    await storage.rotate_refresh_token("old", successor("lost"), NOW + 1, replaces="old")
    retried = await storage.rotate_refresh_token(
        "lost", successor("newest"), NOW + 2, replaces="old"
    )
    assert retried is not None
    assert retried.token_hash == "lost"
    assert retried.used_at == NOW + 2
    old = await storage.get_refresh_token("old")
    assert old is not None
    assert (old.used_at, old.replaced_by) == (NOW + 1, "newest")
    lost = await storage.get_refresh_token("lost")
    assert lost is not None
    assert lost.replaced_by is None
    assert await storage.get_refresh_token("newest") is not None


async def test_a_retry_that_loses_repoints_nothing(storage: Storage) -> None:
    """A second retry finds the successor already used: nothing is written, and the old
    token keeps pointing at the successor that won."""
    await with_family(storage)
    await storage.add_refresh_token(make.refresh_token("old"))
    await storage.rotate_refresh_token("old", successor("lost"), NOW + 1, replaces="old")
    assert await storage.rotate_refresh_token("lost", successor("won"), NOW + 2, replaces="old")
    late = await storage.rotate_refresh_token("lost", successor("late"), NOW + 3, replaces="old")
    assert late is None
    old = await storage.get_refresh_token("old")
    assert old is not None and old.replaced_by == "won"
    assert await storage.get_refresh_token("late") is None


async def test_a_family_and_its_first_token_are_added_together(storage: Storage) -> None:
    await with_family(storage)
    family = make.family("f-new")
    first = dataclasses.replace(make.refresh_token("first"), family_id="f-new")
    await storage.add_refresh_token(first, family=family)
    assert await storage.get_family("f-new") == family
    stored = await storage.get_refresh_token("first")
    assert stored is not None and stored.family_id == "f-new"
    # Neither is stored when one of them cannot be: the same family again.
    with pytest.raises(Conflict):
        again = dataclasses.replace(make.refresh_token("second"), family_id="f-new")
        await storage.add_refresh_token(again, family=family)
    assert await storage.get_refresh_token("second") is None


# Access token records ------------------------------------------------------------------


async def test_access_token_record_round_trips(storage: Storage) -> None:
    from_family = make.access_token("at-1")
    machine = make.access_token("at-2", subject="client-1", family_id=None)
    await storage.record_access_token(from_family)
    await storage.record_access_token(machine)
    assert await storage.get_access_token("at-1") == from_family
    assert await storage.get_access_token("at-2") == machine
    assert await storage.get_access_token("nope") is None


async def test_duplicate_access_token_record_is_a_conflict(storage: Storage) -> None:
    await storage.record_access_token(make.access_token())
    with pytest.raises(Conflict, match="at-1"):
        await storage.record_access_token(make.access_token(subject="sub-bob"))


async def test_access_tokens_of_match_every_given_filter(storage: Storage) -> None:
    for record in (
        make.access_token("a1", issued_at=NOW + 1),
        make.access_token("a2", family_id="family-2"),
        make.access_token("b1", subject="sub-bob", family_id=None),
        make.access_token("c1", client_id="client-2", family_id=None),
    ):
        await storage.record_access_token(record)

    async def jtis(**filters: str) -> list[str]:
        return [r.jti for r in await storage.access_tokens_of(NOW, **filters)]

    assert await jtis(family_id="family-1") == ["a1"]
    assert await jtis(client_id="client-1") == ["a2", "b1", "a1"]
    assert await jtis(subject="sub-alice") == ["a2", "c1", "a1"]
    assert await jtis(client_id="client-1", subject="sub-alice") == ["a2", "a1"]
    assert await jtis(client_id="client-2", family_id="family-1") == []


async def test_expired_access_tokens_are_not_listed(storage: Storage) -> None:
    await storage.record_access_token(make.access_token("expired", expires_at=NOW))
    await storage.record_access_token(make.access_token("live", expires_at=NOW + 1))
    listed = await storage.access_tokens_of(NOW, client_id="client-1")
    assert [r.jti for r in listed] == ["live"]


async def test_access_tokens_of_needs_a_filter(storage: Storage) -> None:
    with pytest.raises(ValueError, match="family_id, client_id or subject"):
        await storage.access_tokens_of(NOW)


async def test_access_token_records_outlive_their_client_until_expiry(storage: Storage) -> None:
    await storage.add_client(make.client())
    await storage.record_access_token(make.access_token(family_id=None))
    assert await storage.delete_client("client-1")
    assert [r.jti for r in await storage.access_tokens_of(NOW, client_id="client-1")] == ["at-1"]


# Housekeeping ------------------------------------------------------------------------


async def test_purge_removes_expired_tokens_families_and_records(storage: Storage) -> None:
    await with_family(storage, "live")
    await storage.add_family(make.family("old", expires_at=NOW))
    await storage.add_refresh_token(
        make.refresh_token("old-token", family_id="old", expires_at=NOW)
    )
    await storage.add_refresh_token(make.refresh_token("stale", family_id="live", expires_at=NOW))
    await storage.add_refresh_token(
        make.refresh_token("fresh", family_id="live", expires_at=NOW + 1)
    )
    await storage.record_access_token(make.access_token("at-old", expires_at=NOW))
    await storage.record_access_token(make.access_token("at-new", expires_at=NOW + 1))

    assert await storage.purge_expired(NOW) == 4

    assert await storage.get_family("old") is None
    assert await storage.get_refresh_token("old-token") is None
    assert await storage.get_refresh_token("stale") is None
    assert await storage.get_access_token("at-old") is None
    assert await storage.get_family("live") is not None
    assert await storage.get_refresh_token("fresh") is not None
    assert await storage.get_access_token("at-new") is not None
    assert await storage.purge_expired(NOW) == 0


async def test_purge_is_bounded_by_batch(storage: Storage) -> None:
    for n in range(5):
        await storage.revoke(make.revocation(f"jti-{n}", expires_at=NOW - n))
    for n in range(3):
        await storage.record_access_token(make.access_token(f"at-{n}", expires_at=NOW))
    await storage.record_access_token(make.access_token("at-live", expires_at=NOW + 1))

    removed = [await storage.purge_expired(NOW, batch=2) for _ in range(4)]

    assert removed == [4, 3, 1, 0]
    assert await storage.revocations_since(0, NOW - 10, 10) == []
    assert [r.jti for r in await storage.access_tokens_of(NOW, client_id="client-1")] == ["at-live"]


async def test_purged_family_takes_its_remaining_tokens_with_it(storage: Storage) -> None:
    """Past its absolute expiry a family goes, with whatever tokens a bounded batch
    left behind; only the family is counted for those."""
    await with_family(storage, "old")
    await storage.revoke_family("old", NOW - 1, "logout")
    await storage.add_refresh_token(make.refresh_token("t-1", family_id="old", expires_at=NOW))
    await storage.add_refresh_token(make.refresh_token("t-2", family_id="old", expires_at=NOW))

    assert await storage.purge_expired(NOW + 30 * 86_400, batch=1) == 2

    assert await storage.get_family("old") is None
    assert await storage.get_refresh_token("t-1") is None
    assert await storage.get_refresh_token("t-2") is None


async def test_purge_needs_a_positive_batch(storage: Storage) -> None:
    with pytest.raises(ValueError, match="batch"):
        await storage.purge_expired(NOW, batch=0)
