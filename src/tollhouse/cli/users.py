"""``tollhouse users``: the accounts people sign in with.

Passwords are read from standard input only (``--password-stdin``), never from an
argument (arguments show up in ``ps`` and shell history), and stored as argon2id hashes
(RFC 9106 §4). No command prints a password or a hash.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TypedDict

import click

from tollhouse import randomness
from tollhouse.cli.context import echo_json, fail, run, settings_from, state_options, storage_for
from tollhouse.cli.hashing import user_hasher
from tollhouse.cli.output import echo_record, echo_table, iso_utc, note, usage_error
from tollhouse.cli.tokens import revoke_all_of
from tollhouse.clock import SystemClock
from tollhouse.config import Settings
from tollhouse.errors import Conflict, NotFound
from tollhouse.models import User

USER_ID_BYTES = 16
MIN_PASSWORD_LENGTH = 8
MAX_USERNAME_LENGTH = 255


class UserRecord(TypedDict):
    user_id: str
    username: str
    email: str | None
    created_at: str


def record(user: User) -> UserRecord:
    return {
        "user_id": user.user_id,
        "username": user.username,
        "email": user.email,
        "created_at": iso_utc(user.created_at),
    }


@click.group()
def users() -> None:
    """Users: the people who sign in."""


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
password_option = click.option(
    "--password-stdin",
    "password_stdin",
    is_flag=True,
    help="Read the password from standard input (one trailing newline is dropped).",
)


def read_password(password_stdin: bool) -> str:
    """The new password from stdin (a prompt on a terminal); exit 2 if unusable."""
    if not password_stdin:
        usage_error(
            "--password-stdin is required: pipe the password in "
            "(passwords are never taken as arguments)"
        )
    if sys.stdin.isatty():
        password: str = click.prompt(
            "Password", hide_input=True, confirmation_prompt=True, err=True
        )
    else:
        password = sys.stdin.read()
        if password.endswith("\r\n"):
            password = password[:-2]
        elif password.endswith("\n"):
            password = password[:-1]
    if not password:
        usage_error("no password on standard input")
    if len(password) < MIN_PASSWORD_LENGTH:
        usage_error(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    return password


def _check_username(username: str) -> str:
    if not username or username != username.strip():
        usage_error("--username must be non-empty, without leading or trailing spaces")
    if len(username) > MAX_USERNAME_LENGTH:
        usage_error(f"--username is longer than {MAX_USERNAME_LENGTH} characters")
    if any(not ch.isprintable() for ch in username):
        usage_error("--username must not contain control characters")
    return username


def _check_email(email: str | None) -> str | None:
    if email is None:
        return None
    local, at, domain = email.partition("@")
    if not at or not local or not domain or any(ch.isspace() for ch in email):
        usage_error(f"--email {email!r} is not an email address")
    return email


# create ---------------------------------------------------------------------------


@users.command("create")
@click.option("--username", required=True, help="The name the user signs in with.")
@click.option("--email", default=None, help="The user's email address.")
@click.option("--name", default=None, help="Full name (the OIDC profile scope's name claim).")
@click.option("--email-verified", is_flag=True, help="The email address is known to be the user's.")
@password_option
@json_option
@state_options
def create(
    username: str,
    email: str | None,
    name: str | None,
    email_verified: bool,
    password_stdin: bool,
    as_json: bool,
    data_dir: Path | None,
    database: str | None,
) -> None:
    """Create a user; the password comes from stdin (--password-stdin)."""
    _check_username(username)
    _check_email(email)
    password = read_password(password_stdin)
    settings = settings_from(data_dir, database)
    user = User(
        user_id=randomness.identifier(USER_ID_BYTES),
        username=username,
        password_hash=user_hasher().hash(password),
        created_at=SystemClock().now(),
        email=email,
        name=name.strip() if name and name.strip() else None,
        email_verified=bool(email) and email_verified,
    )
    run(_add(settings, user))
    if as_json:
        echo_json(record(user))
        return
    shown = record(user)
    echo_record(
        [
            ("user_id", shown["user_id"]),
            ("username", shown["username"]),
            ("email", shown["email"]),
            ("created_at", shown["created_at"]),
        ]
    )


async def _add(settings: Settings, user: User) -> None:
    async with storage_for(settings) as storage:
        try:
            await storage.add_user(user)
        except Conflict:
            raise Conflict(f"a user named {user.username!r} already exists") from None


# list -------------------------------------------------------------------------------


@users.command("list")
@json_option
@state_options
def list_(as_json: bool, data_dir: Path | None, database: str | None) -> None:
    """List the users (never their password hashes)."""
    found = run(_list(settings_from(data_dir, database)))
    if as_json:
        echo_json([record(user) for user in found])
        return
    if not found:
        note("no users yet; create one with `tollhouse users create`")
        return
    echo_table(
        ["username", "user_id (sub)", "email", "created_at"],
        (
            [user.username, user.user_id, user.email or "-", iso_utc(user.created_at)]
            for user in found
        ),
    )


async def _list(settings: Settings) -> list[User]:
    async with storage_for(settings) as storage:
        return await storage.list_users()


# delete / set-password -------------------------------------------------------------------


@users.command("delete")
@click.argument("username")
@state_options
def delete(username: str, data_dir: Path | None, database: str | None) -> None:
    """Delete a user; their sessions, codes and consents go with them."""
    run(_delete(settings_from(data_dir, database), username))
    click.echo(f"deleted user {username}")


async def _delete(settings: Settings, username: str) -> None:
    async with storage_for(settings) as storage:
        user = await storage.get_user_by_username(username)
        if user is None:
            raise NotFound(f"no user {username}")
        await revoke_all_of(settings, storage, subject=user.user_id, reason="user_deleted")
        if not await storage.delete_user(username):
            raise NotFound(f"no user {username}")


@users.command("set-password")
@click.argument("username")
@password_option
@state_options
def set_password(
    username: str, password_stdin: bool, data_dir: Path | None, database: str | None
) -> None:
    """Replace a user's password; it comes from stdin (--password-stdin)."""
    password = read_password(password_stdin)
    settings = settings_from(data_dir, database)
    if not run(_set_password(settings, username, user_hasher().hash(password))):
        fail(f"no user {username}")
    click.echo(f"password changed for user {username}")


async def _set_password(settings: Settings, username: str, password_hash: str) -> bool:
    async with storage_for(settings) as storage:
        return await storage.set_password(username, password_hash)
