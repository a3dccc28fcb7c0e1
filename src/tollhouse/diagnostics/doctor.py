"""``tollhouse doctor``: gather the facts (settings, database, files, optionally a
running server) and let the check modules judge them.

Read-only: it never migrates, never creates the database, a master key, a signing key
or a certificate, and never prints a secret.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from tollhouse.clock import Clock, SystemClock
from tollhouse.config import Settings
from tollhouse.diagnostics import (
    client_checks,
    config_checks,
    database_checks,
    key_checks,
    master_key_checks,
    profile_checks,
    remote,
    tls_checks,
)
from tollhouse.diagnostics.findings import Finding, error, ok
from tollhouse.keys.rotation import retention_for
from tollhouse.models import Api, Client, SigningKey, User
from tollhouse.storage.sql.engine import async_url, create_engine, is_sqlite
from tollhouse.storage.sql.migrate import alembic_config
from tollhouse.storage.sql.storage import SqlStorage

T = TypeVar("T")
TIMEOUT = 5.0
"""Seconds allowed for each database or network step."""


@dataclass
class DatabaseFacts:
    reachable: bool = False
    revision: str | None = None
    skew: float | None = None
    """Database clock minus this machine's, seconds (None: not measured)."""
    clients: list[Client] = field(default_factory=list)
    apis: list[Api] = field(default_factory=list)
    users: list[User] = field(default_factory=list)
    keys: list[SigningKey] | None = None
    findings: list[Finding] = field(default_factory=list)


async def diagnose(
    settings: Settings, *, url: str | None = None, clock: Clock | None = None
) -> list[Finding]:
    """Every finding, in a stable order: config, database, clock, master key, keys, TLS,
    redirect URIs, client scopes, then the running server (``url``)."""
    clock = clock or SystemClock()
    found = config_checks.check_settings(settings)
    facts = await read_database(settings.database_url)
    found.extend(facts.findings)
    if facts.keys is not None:  # the tables could be read
        found.extend(client_checks.check_demo_data(facts.clients, facts.users))
    if settings.redis:
        found.append(await check_redis(settings.redis))
    stored = len(facts.keys or [])
    report = master_key_checks.check_master_key(settings.master_key, settings.data_dir, stored)
    found.extend(report.findings)
    retention = retention_for(settings)
    if facts.keys is not None:
        found.extend(
            key_checks.check_keys(
                facts.keys,
                report.box,
                settings.signing_alg,
                clock.now(),
                retention,
                settings.rsa_key_bits,
            )
        )
    issuer_host = urlsplit(settings.issuer_url).hostname or ""
    now = datetime.datetime.fromtimestamp(clock.now(), datetime.UTC)
    found.extend(tls_checks.check_tls(settings, now, issuer_host))
    if facts.keys is not None:
        found.extend(client_checks.check_redirect_uris(facts.clients))
        found.extend(client_checks.check_client_scopes(facts.clients, facts.apis))
        found.extend(profile_checks.check_fapi2_clients(settings.profile, facts.clients))
    if url is not None:
        context = remote.tls_context(_certificates(settings))
        published = (
            None
            if facts.keys is None
            else key_checks.published_keys(facts.keys, clock.now(), retention)
        )
        found.extend(await remote.probe(url, settings.issuer_url, published, verify=context))
    return found


async def read_database(database_url: str) -> DatabaseFacts:
    """Reachability, revision, clock skew and the records the other checks need."""
    facts = DatabaseFacts()
    shown = _display(database_url)
    missing = _missing_sqlite_file(database_url)
    if missing is not None:
        facts.findings.append(
            error(
                "database",
                f"the database file {missing} does not exist",
                "run `tollhouse migrate` or start `tollhouse serve` (check --data-dir "
                "and --database)",
            )
        )
        return facts
    engine = create_engine(database_url)
    try:
        try:
            revision, skew = await _bounded(_status(engine))
        except Exception as exc:
            facts.findings.append(
                error(
                    "database",
                    f"{shown} cannot be reached: {_reason(exc)}",
                    "start the database, or check --database / TOLLHOUSE_DATABASE",
                )
            )
            return facts
        facts.reachable = True
        facts.revision, facts.skew = revision, skew
        head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
        facts.findings.append(database_checks.check_revision(revision, head or "?"))
        if skew is None:
            facts.findings.append(ok("clock", "SQLite runs on this machine's clock"))
        else:
            facts.findings.append(database_checks.check_clock(skew, "the database server"))
        if revision is None:
            return facts
        if engine.dialect.name == "postgresql":
            server_on, tables_off = await _bounded(_autovacuum(engine))
            facts.findings.append(database_checks.check_autovacuum(server_on, tables_off))
        storage = SqlStorage(engine)
        try:
            facts.keys = await _bounded(storage.list_keys())
            facts.clients = await _bounded(storage.list_clients())
            facts.apis = await _bounded(storage.list_apis())
            facts.users = await _bounded(storage.list_users())
        except Exception as exc:
            facts.findings.append(
                error(
                    "database",
                    f"{shown} cannot be read: {_reason(exc)}",
                    "run `tollhouse migrate`; if it persists, restore from a backup",
                )
            )
    finally:
        await engine.dispose()
    return facts


async def check_redis(url: str) -> Finding:
    """Redis answers PING (revocations, rate limits and caches are shared through it)."""
    from redis.asyncio import Redis

    shown = _display(url)
    client = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        await _bounded(client.ping())
    except Exception as exc:
        return error(
            "redis",
            f"{shown} cannot be reached: {_reason(exc)}",
            "start Redis, or check --redis / TOLLHOUSE_REDIS",
        )
    finally:
        await client.aclose()
    return ok("redis", f"{shown} answers")


async def _status(engine: AsyncEngine) -> tuple[str | None, float | None]:
    """The schema revision and, on PostgreSQL, the server clock's skew from ours."""

    def revision(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        current = await connection.run_sync(revision)
        if engine.dialect.name != "postgresql":
            return current, None
        before = time.time()
        result = await connection.execute(text("SELECT EXTRACT(EPOCH FROM clock_timestamp())"))
        after = time.time()
        remote_now = float(result.scalar_one())
    return current, remote_now - (before + after) / 2


async def _autovacuum(engine: AsyncEngine) -> tuple[bool, list[str]]:
    """Whether the PostgreSQL server runs autovacuum, and the purged tables on which it
    is switched off table by table."""
    async with engine.connect() as connection:
        server = (await connection.execute(text("SHOW autovacuum"))).scalar_one()
        result = await connection.execute(
            text(
                "SELECT relname FROM pg_class WHERE relname = ANY(:tables) "
                "AND 'autovacuum_enabled=false' = ANY(coalesce(reloptions, '{}'))"
            ),
            {"tables": list(database_checks.PURGED_TABLES)},
        )
        tables_off = sorted(str(name) for name in result.scalars())
    return str(server).lower() == "on", tables_off


def _missing_sqlite_file(database_url: str) -> str | None:
    """The path of a SQLite database file that does not exist (opening would create it)."""
    if not is_sqlite(database_url):
        return None
    path = make_url(async_url(database_url)).database
    if path and path != ":memory:" and not path.startswith("file:") and not Path(path).is_file():
        return path
    return None


async def _bounded(work: Awaitable[T]) -> T:
    return await asyncio.wait_for(work, TIMEOUT)


def _certificates(settings: Settings) -> list[Path]:
    """Certificates to trust when probing the server: its own."""
    if settings.tls_cert is not None:
        return [settings.tls_cert]
    return [settings.data_dir / "tls" / "localhost.crt"]


def _display(database_url: str) -> str:
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except Exception:
        return "the database"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {TIMEOUT:g} s"
    text_ = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text_}"[:200] if text_ else type(exc).__name__
