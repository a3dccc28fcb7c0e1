"""The storage contract: every rule the protocol relies on, run against every backend.

Each test runs on memory, a SQLite file and PostgreSQL (see ``conftest``); a test's
name states the rule it keeps.
"""

from __future__ import annotations

import pytest

from tests.storage import records as make
from tests.storage.records import NOW
from tollhouse.errors import Conflict
from tollhouse.models import Api, Consent
from tollhouse.storage.memory import MemoryStorage
from tollhouse.storage.ports import Storage
from tollhouse.storage.sql.storage import SqlStorage


def _adapters_satisfy_the_port(memory: MemoryStorage, sql: SqlStorage) -> tuple[Storage, ...]:
    """Checked by mypy: both adapters implement the whole ``Storage`` protocol."""
    return (memory, sql)


async def with_client_and_user(storage: Storage) -> None:
    await storage.add_client(make.client())
    await storage.add_user(make.user())


# Clients ---------------------------------------------------------------------------


async def test_client_round_trips(storage: Storage) -> None:
    confidential = make.client("c1")
    public = make.client(
        "c2",
        token_endpoint_auth_method="none",
        secret_hash=None,
        scopes=None,
        grant_types=(),
        access_token_ttl=None,
        refresh_token_ttl=None,
        refresh_token_absolute_ttl=None,
        introspect_audiences=(),
        self_registered=True,
    )
    await storage.add_client(confidential)
    await storage.add_client(public)
    assert await storage.get_client("c1") == confidential
    assert await storage.get_client("c2") == public
    assert await storage.get_client("nope") is None


async def test_client_without_scope_list_keeps_none_apart_from_empty(storage: Storage) -> None:
    await storage.add_client(make.client("all", scopes=None))
    await storage.add_client(make.client("none", scopes=()))
    assert (await storage.get_client("all")).scopes is None  # type: ignore[union-attr]
    assert (await storage.get_client("none")).scopes == ()  # type: ignore[union-attr]


async def test_duplicate_client_is_a_conflict(storage: Storage) -> None:
    await storage.add_client(make.client("c1"))
    with pytest.raises(Conflict, match="c1"):
        await storage.add_client(make.client("c1", name="Other"))
    assert (await storage.get_client("c1")).name == "App c1"  # type: ignore[union-attr]


async def test_clients_listed_by_name(storage: Storage) -> None:
    for client_id, name in [("a", "Zeta"), ("b", "Alpha"), ("c", "Mu")]:
        await storage.add_client(make.client(client_id, name=name))
    assert [c.name for c in await storage.list_clients()] == ["Alpha", "Mu", "Zeta"]


async def test_deleting_client_reports_whether_it_existed(storage: Storage) -> None:
    await storage.add_client(make.client("c1"))
    assert await storage.delete_client("c1") is True
    assert await storage.delete_client("c1") is False
    assert await storage.get_client("c1") is None


async def test_client_secret_is_replaced_only_for_known_clients(storage: Storage) -> None:
    await storage.add_client(make.client("c1"))
    assert await storage.set_client_secret("c1", "new-hash") is True
    assert (await storage.get_client("c1")).secret_hash == "new-hash"  # type: ignore[union-attr]
    assert await storage.set_client_secret("nope", "new-hash") is False


async def test_deleting_client_cascades_codes_and_consents(storage: Storage) -> None:
    await with_client_and_user(storage)
    await storage.add_code(make.code())
    await storage.save_consent(Consent("sub-alice", "client-1", ("openid",), NOW))
    assert await storage.delete_client("client-1")
    assert await storage.get_code("code-hash-1") is None
    assert await storage.get_consent("sub-alice", "client-1") is None
    assert await storage.get_user("sub-alice") is not None


# Users -----------------------------------------------------------------------------


async def test_user_is_found_by_id_and_by_username(storage: Storage) -> None:
    alice = make.user("alice")
    bob = make.user("bob", email=None)
    await storage.add_user(alice)
    await storage.add_user(bob)
    assert await storage.get_user("sub-alice") == alice
    assert await storage.get_user_by_username("bob") == bob
    assert await storage.get_user("alice") is None
    assert await storage.get_user_by_username("sub-alice") is None


async def test_duplicate_username_is_a_conflict(storage: Storage) -> None:
    await storage.add_user(make.user("alice"))
    with pytest.raises(Conflict, match="alice"):
        await storage.add_user(make.user("alice", user_id="another-sub"))


async def test_duplicate_user_id_is_a_conflict(storage: Storage) -> None:
    await storage.add_user(make.user("alice", user_id="sub-1"))
    with pytest.raises(Conflict):
        await storage.add_user(make.user("bob", user_id="sub-1"))
    assert await storage.get_user_by_username("bob") is None


async def test_users_listed_by_username(storage: Storage) -> None:
    for name in ("carol", "alice", "bob"):
        await storage.add_user(make.user(name))
    assert [u.username for u in await storage.list_users()] == ["alice", "bob", "carol"]


async def test_password_is_replaced_only_for_known_users(storage: Storage) -> None:
    await storage.add_user(make.user("alice"))
    assert await storage.set_password("alice", "new-hash") is True
    assert (await storage.get_user("sub-alice")).password_hash == "new-hash"  # type: ignore[union-attr]
    assert await storage.set_password("nobody", "new-hash") is False


async def test_password_hash_upgrade_replaces_only_the_hash_that_was_verified(
    storage: Storage,
) -> None:
    await storage.add_user(make.user("alice", password_hash="$argon2id$cheap"))
    await storage.add_user(make.user("bob", password_hash="$argon2id$cheap"))

    assert await storage.upgrade_password_hash("sub-alice", "$argon2id$cheap", "$argon2id$new")
    assert (await storage.get_user("sub-alice")).password_hash == "$argon2id$new"  # type: ignore[union-attr]
    assert (await storage.get_user("sub-bob")).password_hash == "$argon2id$cheap"  # type: ignore[union-attr]

    # An admin changed bob's password after the sign-in verified the old one: it stays.
    assert await storage.set_password("bob", "$argon2id$admin") is True
    assert not await storage.upgrade_password_hash("sub-bob", "$argon2id$cheap", "$argon2id$new")
    assert (await storage.get_user("sub-bob")).password_hash == "$argon2id$admin"  # type: ignore[union-attr]
    assert not await storage.upgrade_password_hash("sub-nobody", "$argon2id$cheap", "x")


async def test_deleting_user_reports_whether_it_existed(storage: Storage) -> None:
    await storage.add_user(make.user("alice"))
    assert await storage.delete_user("alice") is True
    assert await storage.delete_user("alice") is False
    assert await storage.get_user("sub-alice") is None


async def test_deleting_user_cascades_consents(storage: Storage) -> None:
    await with_client_and_user(storage)
    await storage.add_user(make.user("bob"))
    await storage.save_consent(Consent("sub-alice", "client-1", ("openid",), NOW))
    await storage.save_consent(Consent("sub-bob", "client-1", ("openid",), NOW))
    assert await storage.delete_user("alice")
    assert await storage.get_consent("sub-alice", "client-1") is None
    assert await storage.get_consent("sub-bob", "client-1") is not None


async def test_deleting_user_cascades_codes_and_sessions(storage: Storage) -> None:
    await with_client_and_user(storage)
    await storage.add_code(make.code())
    await storage.add_session(make.session())
    assert await storage.delete_user("alice")
    assert await storage.get_code("code-hash-1") is None
    assert await storage.get_session("session-hash-1") is None
    assert await storage.get_client("client-1") is not None


# APIs ------------------------------------------------------------------------------


async def test_api_keeps_its_scopes_in_order(storage: Storage) -> None:
    api = Api("https://api.example", ("write", "read", "admin"), NOW, name="Example")
    bare = Api("https://bare.example", (), NOW)
    await storage.add_api(api)
    await storage.add_api(bare)
    assert await storage.get_api("https://api.example") == api
    assert await storage.get_api("https://bare.example") == bare
    assert await storage.get_api("https://nope.example") is None


async def test_duplicate_api_is_a_conflict(storage: Storage) -> None:
    await storage.add_api(Api("https://api.example", ("read",), NOW))
    with pytest.raises(Conflict, match="already exists"):
        await storage.add_api(Api("https://api.example", ("write",), NOW))
    assert await storage.get_api("https://api.example") == Api(
        "https://api.example", ("read",), NOW
    )


async def test_scope_belongs_to_one_api(storage: Storage) -> None:
    await storage.add_api(Api("https://a.example", ("read", "write"), NOW))
    with pytest.raises(Conflict, match=r"'write' belongs to API 'https://a\.example'"):
        await storage.add_api(Api("https://b.example", ("list", "write"), NOW))


async def test_rejected_api_leaves_nothing_behind(storage: Storage) -> None:
    await storage.add_api(Api("https://a.example", ("read",), NOW))
    with pytest.raises(Conflict):
        await storage.add_api(Api("https://b.example", ("list", "read"), NOW))
    assert await storage.get_api("https://b.example") is None
    await storage.add_api(Api("https://c.example", ("list",), NOW))


async def test_api_listing_a_scope_twice_is_a_conflict(storage: Storage) -> None:
    with pytest.raises(Conflict, match="twice"):
        await storage.add_api(Api("https://a.example", ("read", "read"), NOW))
    assert await storage.get_api("https://a.example") is None


async def test_deleting_api_frees_its_scopes(storage: Storage) -> None:
    await storage.add_api(Api("https://a.example", ("read",), NOW))
    assert await storage.delete_api("https://a.example") is True
    assert await storage.delete_api("https://a.example") is False
    await storage.add_api(Api("https://b.example", ("read",), NOW))


async def test_apis_listed_by_identifier(storage: Storage) -> None:
    await storage.add_api(Api("https://c.example", ("c1", "c2"), NOW))
    await storage.add_api(Api("https://a.example", ("a1",), NOW))
    await storage.add_api(Api("https://b.example", (), NOW))
    assert await storage.list_apis() == [
        Api("https://a.example", ("a1",), NOW),
        Api("https://b.example", (), NOW),
        Api("https://c.example", ("c1", "c2"), NOW),
    ]


async def test_api_keeps_its_scope_descriptions(storage: Storage) -> None:
    described = {"read": "Read sensor readings"}
    api = Api("https://api.example", ("read", "write"), NOW, descriptions=described)
    await storage.add_api(api)
    assert await storage.get_api("https://api.example") == api
    assert (await storage.list_apis())[0].descriptions == described


async def test_every_client_and_api_write_moves_the_registry_version(storage: Storage) -> None:
    seen = [await storage.registry_version()]

    async def moved() -> bool:
        seen.append(await storage.registry_version())
        return seen[-1] != seen[-2]

    await storage.add_client(make.client())
    assert await moved()
    await storage.set_client_secret("client-1", "sha256$new")
    assert await moved()
    await storage.update_client(make.client(name="renamed"))
    assert await moved()
    await storage.add_api(Api("https://a.example", ("read",), NOW))
    assert await moved()
    await storage.delete_api("https://a.example")
    assert await moved()
    await storage.delete_client("client-1")
    assert await moved()
    await storage.add_user(make.user())
    assert not await moved()
    with pytest.raises(Conflict):
        await storage.add_api(Api("https://b.example", ("x", "x"), NOW))
    assert not await moved()


# Consents ----------------------------------------------------------------------------


async def test_saving_consent_replaces_the_previous_one(storage: Storage) -> None:
    await with_client_and_user(storage)
    assert await storage.get_consent("sub-alice", "client-1") is None
    await storage.save_consent(Consent("sub-alice", "client-1", ("openid",), NOW))
    wider = Consent("sub-alice", "client-1", ("openid", "read"), NOW + 10)
    await storage.save_consent(wider)
    assert await storage.get_consent("sub-alice", "client-1") == wider


async def test_consent_for_unknown_user_or_client_is_a_conflict(storage: Storage) -> None:
    await with_client_and_user(storage)
    with pytest.raises(Conflict):
        await storage.save_consent(Consent("nobody", "client-1", ("openid",), NOW))
    with pytest.raises(Conflict):
        await storage.save_consent(Consent("sub-alice", "nope", ("openid",), NOW))


# Sessions and interactions -----------------------------------------------------------------


async def test_session_is_kept_until_deleted(storage: Storage) -> None:
    await storage.add_user(make.user())
    await storage.add_session(make.session())
    assert await storage.get_session("session-hash-1") == make.session()
    await storage.delete_session("session-hash-1")
    assert await storage.get_session("session-hash-1") is None
    await storage.delete_session("session-hash-1")


async def test_session_for_unknown_user_is_a_conflict(storage: Storage) -> None:
    with pytest.raises(Conflict):
        await storage.add_session(make.session(user_id="nobody"))


async def test_interaction_keeps_its_request(storage: Storage) -> None:
    await storage.add_interaction(make.interaction())
    found = await storage.get_interaction("interaction-hash-1")
    assert found == make.interaction()
    assert found is not None
    found.request["state"] = "tampered"
    assert await storage.get_interaction("interaction-hash-1") == make.interaction()


async def test_duplicate_interaction_is_a_conflict(storage: Storage) -> None:
    await storage.add_interaction(make.interaction())
    with pytest.raises(Conflict):
        await storage.add_interaction(make.interaction())


# Signing keys ----------------------------------------------------------------------


async def test_keys_listed_newest_first(storage: Storage) -> None:
    await storage.add_key(make.key("b-old", created_at=NOW - 100))
    await storage.add_key(make.key("b-new", created_at=NOW))
    await storage.add_key(make.key("a-new", created_at=NOW))
    await storage.add_key(make.key("c-mid", created_at=NOW - 50))
    kids = [k.kid for k in await storage.list_keys()]
    assert kids == ["a-new", "b-new", "c-mid", "b-old"]


async def test_key_round_trips_with_its_ciphertext_bytes(storage: Storage) -> None:
    await storage.add_key(make.key())
    assert await storage.list_keys() == [make.key()]


async def test_duplicate_key_is_a_conflict(storage: Storage) -> None:
    await storage.add_key(make.key())
    with pytest.raises(Conflict, match="key-1"):
        await storage.add_key(make.key())


async def test_retiring_a_key_records_when(storage: Storage) -> None:
    await storage.add_key(make.key())
    assert await storage.set_key_status("key-1", "retired", NOW + 10) is True
    [retired] = await storage.list_keys()
    assert (retired.status, retired.retired_at) == ("retired", NOW + 10)
    assert await storage.set_key_status("key-1", "active", NOW + 20) is True
    [active] = await storage.list_keys()
    assert (active.status, active.retired_at) == ("active", None)


async def test_status_of_unknown_key_is_not_set(storage: Storage) -> None:
    assert await storage.set_key_status("nope", "retired", NOW) is False


# Revocations ----------------------------------------------------------------------


async def test_revocation_expires_with_token(storage: Storage) -> None:
    await storage.revoke(make.revocation(expires_at=NOW + 900))
    assert await storage.is_revoked("jti-1", NOW) is True
    assert await storage.is_revoked("jti-1", NOW + 899) is True
    assert await storage.is_revoked("jti-1", NOW + 900) is False


async def test_revoking_twice_is_idempotent(storage: Storage) -> None:
    await storage.revoke(make.revocation())
    await storage.revoke(make.revocation())
    assert await storage.is_revoked("jti-1", NOW) is True


async def test_unknown_token_is_not_revoked(storage: Storage) -> None:
    await storage.revoke(make.revocation("jti-1"))
    assert await storage.is_revoked("jti-2", NOW) is False


# Housekeeping ---------------------------------------------------------------------


async def test_purge_removes_everything_past_its_expiry(storage: Storage) -> None:
    await with_client_and_user(storage)
    await storage.add_code(make.code("old-code", expires_at=NOW))
    await storage.add_code(make.code("new-code", expires_at=NOW + 1))
    await storage.add_session(make.session("old-session", expires_at=NOW - 1))
    await storage.add_session(make.session("new-session", expires_at=NOW + 1))
    await storage.add_interaction(make.interaction("old-interaction", expires_at=NOW))
    await storage.add_interaction(make.interaction("new-interaction", expires_at=NOW + 1))
    await storage.revoke(make.revocation("old-jti", expires_at=NOW))
    await storage.revoke(make.revocation("new-jti", expires_at=NOW + 1))

    assert await storage.purge_expired(NOW) == 4

    assert await storage.get_code("old-code") is None
    assert await storage.get_session("old-session") is None
    assert await storage.get_interaction("old-interaction") is None
    assert await storage.get_code("new-code") is not None
    assert await storage.get_session("new-session") is not None
    assert await storage.get_interaction("new-interaction") is not None
    assert await storage.is_revoked("new-jti", NOW) is True
    assert await storage.purge_expired(NOW) == 0


async def test_ping_succeeds_on_a_live_backend(storage: Storage) -> None:
    await storage.ping()
