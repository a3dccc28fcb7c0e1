"""``tollhouse users``: passwords come from stdin only and are never printed."""

from __future__ import annotations

from typing import Any

from tollhouse.models import User
from tollhouse.security.passwords import PasswordHasher

from .cli_runner import Cli

PASSWORD = "correct horse battery staple"
VERIFIER = PasswordHasher.for_tests()  # argon2 takes the cost from the stored hash


def seed(cli: Cli, username: str = "alice") -> dict[str, Any]:
    """Create a user straight in the database (for tests not about ``create``)."""
    user = User(
        user_id=f"sub-{username}",
        username=username,
        password_hash=VERIFIER.hash(PASSWORD),
        created_at=1_800_000_000,
    )
    cli.query(lambda storage: storage.add_user(user))
    return {
        "user_id": user.user_id,
        "username": username,
        "email": None,
        "created_at": "2027-01-15T08:00:00Z",
    }


def stored_hash(cli: Cli, username: str) -> str:
    async def work(storage: Any) -> str:
        user = await storage.get_user_by_username(username)
        assert user is not None
        password_hash: str = user.password_hash
        return password_hash

    return cli.query(work)


def test_create_reads_the_password_from_stdin(cli: Cli) -> None:
    result = cli(
        "users", "create", "--username", "alice", "--email", "alice@example.com",
        "--password-stdin", "--json",
        stdin=PASSWORD + "\n",
    )  # fmt: skip

    created = result.assert_ok().json()
    assert set(created) == {"user_id", "username", "email", "created_at"}
    assert created["username"] == "alice"
    assert created["email"] == "alice@example.com"
    assert len(created["user_id"]) >= 22  # 128 bits, base64url
    assert PASSWORD not in result.stdout and "$argon2" not in result.stdout
    password_hash = stored_hash(cli, "alice")
    assert VERIFIER.verify(password_hash, PASSWORD)  # one trailing newline stripped
    assert not VERIFIER.verify(password_hash, PASSWORD + "\n")


def test_duplicate_username_fails(cli: Cli) -> None:
    seed(cli)

    again = cli("users", "create", "--username", "alice", "--password-stdin", stdin=PASSWORD)

    again.assert_failure("alice")


def test_unusable_passwords_are_usage_errors(cli: Cli) -> None:
    command = ["users", "create", "--username", "bob"]

    short, empty, missing = cli.many(
        [*command, "--password-stdin"],
        [*command, "--password-stdin"],
        command,
        stdin=["short12\n", "\n"],  # the newline is stripped: an empty password
    )

    short.assert_usage_error("at least 8 characters")
    empty.assert_usage_error("no password")
    missing.assert_usage_error("--password-stdin")
    assert cli.query(lambda storage: storage.list_users()) == []


def test_list_shows_users_but_never_hashes(cli: Cli) -> None:
    alice = seed(cli)

    listed, table = cli.many(["users", "list", "--json"], ["users", "list"])

    assert listed.assert_ok().json() == [alice]
    assert "alice" in table.assert_ok().stdout and alice["user_id"] in table.stdout
    for result in (listed, table):
        assert "$argon2" not in result.stdout and "password" not in result.stdout


def test_set_password_replaces_the_hash_and_unknown_users_fail(cli: Cli) -> None:
    seed(cli)

    changed, unknown, deleted = cli.many(
        ["users", "set-password", "alice", "--password-stdin"],
        ["users", "set-password", "ghost", "--password-stdin"],
        ["users", "delete", "ghost"],
        stdin=["a brand new password\n", "a brand new password\n"],
    )

    changed.assert_ok()
    assert "a brand new password" not in changed.stdout
    unknown.assert_failure("error: no user ghost")
    deleted.assert_failure("error: no user ghost")
    password_hash = stored_hash(cli, "alice")
    assert VERIFIER.verify(password_hash, "a brand new password")
    assert not VERIFIER.verify(password_hash, PASSWORD)


def test_deleted_user_is_gone(cli: Cli) -> None:
    seed(cli)
    bob = seed(cli, "bob")

    cli("users", "delete", "alice").assert_ok()

    assert cli("users", "list", "--json").assert_ok().json() == [bob]
