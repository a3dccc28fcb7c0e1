"""``tollhouse users show | totp enroll | recovery-codes create | mfa reset``: second
factors from the operator's side (docs/mfa.md).

An operator's enrolment is confirmed at once: the secret and ``otpauth://`` URI are
printed once, for the operator to hand over; only the sealed secret is stored. Recovery
codes are printed once and stored as digests. ``show`` never prints a secret. Every
change is an audit line (``event: mfa``, ``by: operator``).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from tollhouse.cli.context import echo_json, run, settings_from, state_options, storage_for
from tollhouse.cli.output import echo_record, iso_utc
from tollhouse.cli.users import json_option, record, users
from tollhouse.clock import SystemClock
from tollhouse.config import Settings
from tollhouse.errors import NotFound
from tollhouse.logs import JsonFormatter
from tollhouse.models import User
from tollhouse.observability.audit import AuditTrail
from tollhouse.protocol.mfa import FactorSummary, SecondFactors, issuer_name
from tollhouse.security.master_key import load_master_key
from tollhouse.security.secretbox import SecretBox
from tollhouse.storage.sql.storage import SqlStorage

OPERATOR = "operator"


def _audit_to_stderr() -> None:
    """The operator's changes are audit lines too: JSON on stderr, as ``serve`` logs."""
    audit = logging.getLogger("tollhouse.audit")
    if not audit.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        audit.addHandler(handler)
        audit.setLevel(logging.INFO)
        audit.propagate = False


def _factors(settings: Settings, storage: SqlStorage) -> SecondFactors:
    _audit_to_stderr()
    master = load_master_key(settings.master_key, settings.data_dir)
    return SecondFactors(
        store=storage,
        sealer=SecretBox(master.key),
        clock=SystemClock(),
        issuer_name=issuer_name(settings.issuer_url),
        events=AuditTrail(),
    )


async def _user(storage: SqlStorage, username: str) -> User:
    user = await storage.get_user_by_username(username)
    if user is None:
        raise NotFound(f"no user {username}")
    return user


@users.command("show")
@click.argument("username")
@json_option
@state_options
def show(username: str, as_json: bool, data_dir: Path | None, database: str | None) -> None:
    """Show a user and their second factors (never a secret)."""
    user, summary = run(_show(settings_from(data_dir, database), username))
    shown = record(user)
    enrolled = iso_utc(summary.created_at) if summary.created_at else None
    if as_json:
        factors = {
            "totp": summary.totp,
            "totp_enrolled_at": enrolled,
            "recovery_codes_left": summary.recovery_codes_left,
            "passkeys": summary.passkeys,
        }
        echo_json({**shown, "factors": factors})
        return
    echo_record(
        [
            ("user_id", shown["user_id"]),
            ("username", shown["username"]),
            ("email", shown["email"]),
            ("created_at", shown["created_at"]),
            ("totp", summary.totp or "none"),
            ("totp_enrolled_at", enrolled),
            ("recovery_codes_left", str(summary.recovery_codes_left)),
            ("passkeys", str(summary.passkeys)),
        ]
    )


async def _show(settings: Settings, username: str) -> tuple[User, FactorSummary]:
    async with storage_for(settings) as storage:
        user = await _user(storage, username)
        return user, await _factors(settings, storage).summary(user.user_id)


@users.group("totp")
def totp() -> None:
    """TOTP authenticators (RFC 6238)."""


@totp.command("enroll")
@click.argument("username")
@json_option
@state_options
def enroll(username: str, as_json: bool, data_dir: Path | None, database: str | None) -> None:
    """Give a user a new authenticator (replacing theirs); prints its secret once."""
    secret, uri = run(_enroll(settings_from(data_dir, database), username))
    if as_json:
        echo_json({"secret": secret, "uri": uri})
        return
    echo_record([("secret", secret), ("uri", uri)])
    click.echo("Shown once: hand it to the user over a trusted channel.", err=True)


async def _enroll(settings: Settings, username: str) -> tuple[str, str]:
    async with storage_for(settings) as storage:
        user = await _user(storage, username)
        factors = _factors(settings, storage)
        enrollment = await factors.enroll(user.user_id, user.username, confirmed=True, by=OPERATOR)
    return enrollment.secret, enrollment.uri


@users.group("recovery-codes")
def recovery_codes() -> None:
    """Single-use recovery codes."""


@recovery_codes.command("create")
@click.argument("username")
@json_option
@state_options
def create_codes(username: str, as_json: bool, data_dir: Path | None, database: str | None) -> None:
    """Replace a user's recovery codes with 10 new ones, printed once."""
    codes = run(_codes(settings_from(data_dir, database), username))
    if as_json:
        echo_json({"codes": codes})
        return
    for code in codes:
        click.echo(code)


async def _codes(settings: Settings, username: str) -> list[str]:
    async with storage_for(settings) as storage:
        user = await _user(storage, username)
        return await _factors(settings, storage).new_recovery_codes(user.user_id, by=OPERATOR)


@users.group("mfa")
def mfa() -> None:
    """A user's second factors as a whole."""


@mfa.command("reset")
@click.argument("username")
@state_options
def reset(username: str, data_dir: Path | None, database: str | None) -> None:
    """Remove a user's authenticator and recovery codes (a lost device)."""
    removed = run(_reset(settings_from(data_dir, database), username))
    click.echo(f"second factors {'removed' if removed else 'none to remove'} for user {username}")


async def _reset(settings: Settings, username: str) -> bool:
    async with storage_for(settings) as storage:
        user = await _user(storage, username)
        return await _factors(settings, storage).reset(user.user_id, by=OPERATOR)
