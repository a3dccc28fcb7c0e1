"""The storage contract for OpenID Connect sessions: the public ``sid``, activity,
authentication methods, the clients each session served (for front- and back-channel
logout), the families granted in a session, and the OIDC metadata of clients and users.

Like ``test_contract``, each test runs on memory, a SQLite file and PostgreSQL (the
``storage`` fixture of ``conftest``), and its name states the rule it keeps.
"""

from __future__ import annotations

import pytest

from tests.storage import records as make
from tests.storage.records import NOW
from tollhouse.errors import Conflict
from tollhouse.storage.ports import Storage


async def with_users(storage: Storage) -> None:
    await storage.add_user(make.user("alice"))
    await storage.add_user(make.user("bob"))


# OIDC metadata of clients, users and families -----------------------------------------


async def test_client_keeps_its_openid_metadata(storage: Storage) -> None:
    oidc = make.client(
        "oidc",
        post_logout_redirect_uris=("https://app.example/bye", "http://127.0.0.1/bye"),
        backchannel_logout_uri="https://app.example/backchannel",
        id_token_signed_response_alg="ES256",
        subject_type="pairwise",
    )
    plain = make.client(
        "plain",
        post_logout_redirect_uris=(),
        backchannel_logout_uri=None,
        id_token_signed_response_alg=None,
        subject_type="public",
    )
    await storage.add_client(oidc)
    await storage.add_client(plain)
    assert await storage.get_client("oidc") == oidc
    assert await storage.get_client("plain") == plain


async def test_user_keeps_name_and_email_verification(storage: Storage) -> None:
    verified = make.user("alice", name="Alice Liddell", email_verified=True)
    unverified = make.user("bob", name=None, email_verified=False)
    await storage.add_user(verified)
    await storage.add_user(unverified)
    assert await storage.get_user("sub-alice") == verified
    assert await storage.get_user_by_username("bob") == unverified
    assert await storage.list_users() == [verified, unverified]


async def test_family_keeps_its_session_and_offline_flag(storage: Storage) -> None:
    await storage.add_client(make.client())
    online = make.family("online", sid="sid-1", offline=False)
    offline = make.family("offline", sid="sid-1", offline=True)
    sessionless = make.family("sessionless", sid=None)
    for family in (online, offline, sessionless):
        await storage.add_family(family)
    assert await storage.get_family("online") == online
    assert await storage.get_family("offline") == offline
    assert await storage.get_family("sessionless") == sessionless


async def test_families_of_filters_by_session(storage: Storage) -> None:
    await storage.add_client(make.client("client-1"))
    await storage.add_client(make.client("client-2"))
    await storage.add_family(make.family("f-1", sid="sid-1", created_at=NOW + 1))
    await storage.add_family(make.family("f-2", client_id="client-2", sid="sid-1"))
    await storage.add_family(make.family("f-other", sid="sid-2"))
    await storage.add_family(make.family("f-none", sid=None))
    await storage.add_family(make.family("f-revoked", sid="sid-1"))
    await storage.revoke_family("f-revoked", NOW, "logout")

    async def ids(**filters: str) -> list[str]:
        return [f.family_id for f in await storage.families_of(**filters)]

    assert await ids(sid="sid-1") == ["f-2", "f-1"]
    assert await ids(sid="sid-1", client_id="client-1") == ["f-1"]
    assert await ids(sid="sid-1", subject="sub-bob") == []
    assert await ids(sid="sid-3") == []


# Sessions ---------------------------------------------------------------------------


async def test_session_keeps_its_sid_activity_and_methods(storage: Storage) -> None:
    await with_users(storage)
    full = make.session("full", sid="sid-1", last_active_at=NOW + 30, amr=("pwd", "otp"))
    bare = make.session("bare", user_id="sub-bob", sid="", last_active_at=0, amr=())
    await storage.add_session(full)
    await storage.add_session(bare)
    assert await storage.get_session("full") == full
    assert await storage.get_session("bare") == bare


async def test_session_is_found_by_its_sid(storage: Storage) -> None:
    await with_users(storage)
    session = make.session("hash-1", sid="sid-1")
    await storage.add_session(session)
    await storage.add_session(make.session("hash-2", sid=""))
    assert await storage.get_session_by_sid("sid-1") == session
    assert await storage.get_session_by_sid("hash-1") is None
    assert await storage.get_session_by_sid("sid-2") is None
    assert await storage.get_session_by_sid("") is None


async def test_two_sessions_cannot_share_a_sid(storage: Storage) -> None:
    await with_users(storage)
    await storage.add_session(make.session("hash-1", sid="sid-1"))
    with pytest.raises(Conflict):
        await storage.add_session(make.session("hash-2", user_id="sub-bob", sid="sid-1"))
    assert await storage.get_session("hash-2") is None


async def test_sessions_without_a_sid_do_not_clash(storage: Storage) -> None:
    await with_users(storage)
    await storage.add_session(make.session("hash-1", sid=""))
    await storage.add_session(make.session("hash-2", sid=""))
    assert len(await storage.list_sessions()) == 2


async def test_touching_a_session_records_activity_and_never_moves_back(
    storage: Storage,
) -> None:
    await with_users(storage)
    await storage.add_session(make.session(sid="sid-1", last_active_at=NOW))
    await storage.touch_session("session-hash-1", NOW + 30)
    touched = await storage.get_session("session-hash-1")
    assert touched == make.session(sid="sid-1", last_active_at=NOW + 30)
    await storage.touch_session("session-hash-1", NOW + 10)
    assert await storage.get_session("session-hash-1") == touched
    await storage.touch_session("unknown", NOW + 40)
    assert await storage.get_session("unknown") is None


async def test_sessions_listed_newest_first(storage: Storage) -> None:
    await with_users(storage)
    await storage.add_session(make.session("a-old", created_at=NOW))
    await storage.add_session(make.session("a-new", created_at=NOW + 5))
    await storage.add_session(make.session("b-mid", user_id="sub-bob", created_at=NOW + 2))
    await storage.add_session(make.session("a-tie", created_at=NOW + 5))

    async def hashes(user_id: str | None = None) -> list[str]:
        return [s.session_hash for s in await storage.list_sessions(user_id)]

    assert await hashes() == ["a-new", "a-tie", "b-mid", "a-old"]
    assert await hashes("sub-alice") == ["a-new", "a-tie", "a-old"]
    assert await hashes("sub-bob") == ["b-mid"]
    assert await hashes("nobody") == []


# The clients a session served -----------------------------------------------------------


async def test_session_clients_are_remembered_once_in_order(storage: Storage) -> None:
    await with_users(storage)
    await storage.add_session(make.session("hash-1", sid="sid-1"))
    await storage.add_session(make.session("hash-2", user_id="sub-bob", sid="sid-2"))
    for client_id in ("client-b", "client-a", "client-b"):
        await storage.add_session_client("sid-1", client_id)
    await storage.add_session_client("sid-2", "client-c")
    assert await storage.session_clients("sid-1") == ["client-a", "client-b"]
    assert await storage.session_clients("sid-2") == ["client-c"]
    assert await storage.session_clients("sid-3") == []


async def test_client_of_an_unknown_session_is_a_conflict(storage: Storage) -> None:
    await with_users(storage)
    await storage.add_session(make.session(sid=""))
    with pytest.raises(Conflict):
        await storage.add_session_client("sid-unknown", "client-1")
    with pytest.raises(Conflict):
        await storage.add_session_client("", "client-1")
    assert await storage.session_clients("sid-unknown") == []
    assert await storage.session_clients("") == []


async def test_deleting_a_session_forgets_its_clients(storage: Storage) -> None:
    await with_users(storage)
    await storage.add_session(make.session("hash-1", sid="sid-1"))
    await storage.add_session(make.session("hash-2", sid="sid-2"))
    await storage.add_session_client("sid-1", "client-1")
    await storage.add_session_client("sid-2", "client-2")
    await storage.delete_session("hash-1")
    assert await storage.session_clients("sid-1") == []
    assert await storage.session_clients("sid-2") == ["client-2"]
    # A later session that happens to reuse the sid starts with no clients.
    await storage.add_session(make.session("hash-3", sid="sid-1"))
    assert await storage.session_clients("sid-1") == []


async def test_deleting_a_user_cascades_sessions_and_their_clients(storage: Storage) -> None:
    await with_users(storage)
    await storage.add_session(make.session("alice-1", sid="sid-a1"))
    await storage.add_session(make.session("alice-2", sid="sid-a2"))
    await storage.add_session(make.session("bob-1", user_id="sub-bob", sid="sid-b1"))
    for sid in ("sid-a1", "sid-a2", "sid-b1"):
        await storage.add_session_client(sid, "client-1")
    assert await storage.delete_user("alice")
    assert await storage.list_sessions("sub-alice") == []
    assert await storage.get_session_by_sid("sid-a1") is None
    assert await storage.session_clients("sid-a1") == []
    assert await storage.session_clients("sid-a2") == []
    assert await storage.session_clients("sid-b1") == ["client-1"]
    assert [s.session_hash for s in await storage.list_sessions()] == ["bob-1"]


async def test_purge_removes_the_clients_of_expired_sessions(storage: Storage) -> None:
    await with_users(storage)
    await storage.add_session(make.session("old", sid="sid-old", expires_at=NOW))
    await storage.add_session(make.session("live", sid="sid-live", expires_at=NOW + 1))
    for client_id in ("client-1", "client-2"):
        await storage.add_session_client("sid-old", client_id)
    await storage.add_session_client("sid-live", "client-1")

    # Only the session counts; its client rows go with it.
    assert await storage.purge_expired(NOW) == 1

    assert await storage.get_session_by_sid("sid-old") is None
    assert await storage.session_clients("sid-old") == []
    assert await storage.session_clients("sid-live") == ["client-1"]
    assert await storage.purge_expired(NOW) == 0


async def test_purge_of_sessions_and_their_clients_is_bounded_by_batch(
    storage: Storage,
) -> None:
    await with_users(storage)
    sids = [f"sid-{n}" for n in range(3)]
    for n, sid in enumerate(sids):
        await storage.add_session(make.session(f"hash-{n}", sid=sid, expires_at=NOW))
        await storage.add_session_client(sid, "client-1")

    assert await storage.purge_expired(NOW, batch=2) == 2

    kept = [sid for sid in sids if await storage.get_session_by_sid(sid) is not None]
    assert len(kept) == 1
    for sid in sids:
        expected = ["client-1"] if sid in kept else []
        assert await storage.session_clients(sid) == expected
    assert await storage.purge_expired(NOW, batch=2) == 1
    assert await storage.session_clients(kept[0]) == []
    assert await storage.purge_expired(NOW, batch=2) == 0
