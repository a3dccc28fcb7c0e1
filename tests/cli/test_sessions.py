"""``tollhouse sessions``: listing SSO sessions and ending them as /logout would."""

from __future__ import annotations

import time

from tollhouse.models import AuthMethod, Client, Session, TokenFamily, User
from tollhouse.storage.ports import Storage

from .cli_runner import Cli


def seed(cli: Cli) -> None:
    async def work(storage: Storage) -> None:
        now = int(time.time())
        await storage.add_client(
            Client("web", "Web", ("https://app.test/cb",), ("authorization_code",),
                   AuthMethod.NONE, now)
        )  # fmt: skip
        await storage.add_user(User("alice-id", "alice", "h", now))
        await storage.add_session(
            Session("hash-1", "alice-id", now, now, now + 3600, sid="sid-1", last_active_at=now)
        )
        await storage.add_session_client("sid-1", "web")
        await storage.add_family(
            TokenFamily("fam-1", "web", "alice-id", now, now + 60, sid="sid-1")
        )

    cli.query(work)


def test_sessions_are_listed_and_revoked_with_what_they_granted(cli: Cli) -> None:
    seed(cli)
    [listed] = cli("sessions", "list", "--json").assert_ok().json()
    assert listed["sid"] == "sid-1" and listed["clients"] == ["web"]
    assert "hash-1" not in str(listed)
    assert cli("sessions", "revoke", "sid-1").assert_ok().stdout.strip() == "revoked 1 session"

    async def after(storage: Storage) -> tuple[Session | None, TokenFamily | None]:
        return await storage.get_session_by_sid("sid-1"), await storage.get_family("fam-1")

    session, family = cli.query(after)
    assert session is None
    assert family is not None and family.revoked_reason == "revoked_by_admin"
    cli("sessions", "revoke", "sid-1").assert_failure("no session sid-1")
