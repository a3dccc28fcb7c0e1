"""Fill a migrated Tollhouse database with production-size state, fast (issue 22).

At ``--scale 1``: 1,000,000 users, 100,000 clients, 10,000 APIs (one scope each),
10,000,000 issued access-token records and 1,000,000 revocations, bulk-loaded into
the schema ``tollhouse migrate`` creates — PostgreSQL through ``COPY``
(asyncpg ``copy_records_to_table``), SQLite through ``executemany`` in large
transactions with ``synchronous=OFF`` and the rollback journal off *during the load
only* (the file's journal mode is put back afterwards).

The rows look like a year of operation:

* hashes are real but shared: ONE argon2id password hash (the production profile) is
  computed and reused for every bulk user, ONE HMAC client-secret hash for every bulk
  client — hashing a million passwords would take hours and changes nothing a lookup
  reads. Bulk users' passwords and clients' secrets are therefore not usable;
* ids are unique and of the real shapes (random base64url ids; access-token ``jti``s
  time-ordered like :func:`tollhouse.randomness.ordered_identifier`);
* ``created_at``/``issued_at`` are spread over the past year; access tokens live 900 s,
  so almost all are expired (purgeable) and the last :data:`LIVE_SHARE` are still live;
* revocations keep their entry until the token's expiry plus the leeway (at most about
  an hour), so a million live entries is a mass revocation: :data:`LIVE_SHARE_REVOKED`
  of them were revoked in the last hour and are still live (``/revocations?since=``
  pages through them in ``seq`` order, which is ``revoked_at`` order); the rest are
  older, expired and purgeable.

Run after the server's own seeding (``tollhouse migrate`` and the CLI-created bench
clients), never on a database in use::

    .venv/bin/python bench/seed_state.py --database sqlite:////tmp/t.db --scale 0.01

Without ``--database`` it only says so and exits 0:
``make bench`` (bench/all.py) runs it through ``bench/state.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FULL = {
    "users": 1_000_000,
    "clients": 100_000,
    "apis": 10_000,
    "access_tokens": 10_000_000,
    "revocations": 1_000_000,
}
TABLES = ("users", "clients", "apis", "api_scopes", "access_tokens", "revocations")
YEAR = 365 * 24 * 3600
ACCESS_TTL = 900
LIVE_SHARE = 0.01
"""Share of access-token records issued in the last ``ACCESS_TTL`` seconds (still live)."""
LIVE_SHARE_REVOKED = 0.9
"""Share of revocations whose entry is still live (revoked within the last hour)."""
RETENTION = 3600 + 300
BATCH = 50_000


@dataclass
class TableStat:
    table: str
    rows: int
    bytes: int


def counts(scale: float) -> dict[str, int]:
    """Rows per bulk table at ``scale`` (at least one of each)."""
    return {name: max(1, round(n * scale)) for name, n in FULL.items()}


def _ids(count: int, rng: random.Random, nbytes: int = 16) -> list[str]:
    """``count`` unique random base64url ids (the shape of ``randomness.identifier``)."""
    raw = rng.randbytes(count * nbytes)
    return [
        base64.urlsafe_b64encode(raw[i : i + nbytes]).rstrip(b"=").decode()
        for i in range(0, len(raw), nbytes)
    ]


def _spread(rng: random.Random, now: int) -> int:
    return now - rng.randrange(YEAR)


def template_hashes() -> tuple[str, str]:
    """One real argon2id user password hash and one real client-secret hash, reused."""
    from tollhouse.security.client_secrets import ClientSecretHasher
    from tollhouse.security.passwords import PasswordHasher

    password = PasswordHasher.for_users().hash(base64.b64encode(os.urandom(18)).decode())
    secret = ClientSecretHasher(os.urandom(32)).hash(base64.b64encode(os.urandom(32)).decode())
    return password, secret


@dataclass
class Plan:
    """Everything the row generators share: counts, time, ids, the two hashes."""

    n: dict[str, int]
    now: int
    rng: random.Random
    password_hash: str
    secret_hash: str
    user_ids: list[str]
    client_ids: list[str]
    tables: frozenset[str] = frozenset(TABLES)

    def loads(self) -> list[tuple[str, Sequence[str], Callable[[Plan], Iterator[Row]]]]:
        return [load for load in LOADS if load[0] in self.tables]


def plan(scale: float, seed: int = 22) -> Plan:
    n = counts(scale)
    rng = random.Random(seed ^ time.time_ns())  # noqa: S311 -- filler ids, not secrets
    password, secret = template_hashes()
    return Plan(
        n, int(time.time()), rng, password, secret, _ids(n["users"], rng), _ids(n["clients"], rng)
    )


Row = tuple[Any, ...]


def users(p: Plan) -> Iterator[Row]:
    for i, user_id in enumerate(p.user_ids):
        yield (
            user_id,
            f"user{i:07d}.{user_id[:6]}",
            p.password_hash,
            _spread(p.rng, p.now),
            f"user{i}@example.test",
            f"User {i}",
            i % 3 != 0,
        )


USER_COLUMNS = ("user_id", "username", "password_hash", "created_at", "email", "name")
USER_COLUMNS += ("email_verified",)

CLIENT_COLUMNS = (
    "client_id",
    "name",
    "redirect_uris",
    "grant_types",
    "token_endpoint_auth_method",
    "created_at",
    "secret_hash",
    "scopes",
    "introspect_audiences",
    "post_logout_redirect_uris",
    "subject_type",
    "allowed_cors_origins",
    "self_registered",
    "require_par",
    "require_signed_request_object",
    "dpop_bound_access_tokens",
    "require_mfa",
    "require_passkey",
)


def clients(p: Plan) -> Iterator[Row]:
    machine = json.dumps(["client_credentials"])
    web = json.dumps(["authorization_code", "refresh_token"])
    for i, client_id in enumerate(p.client_ids):
        is_web = i % 4 != 0
        api = i % p.n["apis"]
        scopes = ["openid", "offline_access"] if is_web else []
        yield (
            client_id,
            f"client {i}",
            json.dumps([f"https://app{i}.example.test/callback"] if is_web else []),
            web if is_web else machine,
            "client_secret_basic",
            _spread(p.rng, p.now),
            p.secret_hash,
            json.dumps([*scopes, f"api{api}.read"]),
            "[]",
            "[]",
            "public",
            "[]",
            *(False,) * 6,
        )


def apis(p: Plan) -> Iterator[Row]:
    for i in range(p.n["apis"]):
        yield (f"https://api{i}.example.test", f"API {i}", _spread(p.rng, p.now))


def api_scopes(p: Plan) -> Iterator[Row]:
    for i in range(p.n["apis"]):
        yield (f"api{i}.read", f"https://api{i}.example.test", 0, f"Read API {i}")


def access_tokens(p: Plan) -> Iterator[Row]:
    """Issued in time order over the past year; the last ``LIVE_SHARE`` still live."""
    total = p.n["access_tokens"]
    live = max(1, round(total * LIVE_SHARE))
    old, start = total - live, p.now - YEAR
    for i in range(total):
        if i < old:
            issued = start + (YEAR - 2 * ACCESS_TTL) * i // max(1, old)
        else:
            issued = p.now - ACCESS_TTL + ACCESS_TTL * (i - old) // live + 1
        client = p.client_ids[p.rng.randrange(len(p.client_ids))]
        machine = i % 4 == 0
        subject = client if machine else p.user_ids[p.rng.randrange(len(p.user_ids))]
        jti = f"{issued * 1000 + i % 1000:011x}{p.rng.randbytes(12).hex()}"
        yield (jti, client, subject, None, issued + ACCESS_TTL, issued)


def revocations(p: Plan) -> Iterator[Row]:
    """In ``revoked_at`` order (so ``seq`` order): expired ones first, then live ones."""
    total = p.n["revocations"]
    live = round(total * LIVE_SHARE_REVOKED)
    old = total - live
    reasons = ("revoked by client", "family revoked", "user signed out", "admin")
    for i in range(total):
        if i < old:
            revoked = p.now - YEAR + (YEAR - 2 * RETENTION) * i // max(1, old)
            expires = revoked + p.rng.randrange(60, RETENTION)
        else:
            revoked = p.now - 3600 + 3600 * (i - old) // max(1, live)
            expires = p.now + p.rng.randrange(60, RETENTION)
        yield (
            f"{revoked * 1000:011x}{p.rng.randbytes(12).hex()}",
            expires,
            revoked,
            reasons[i % 4],
        )


TOKEN_COLUMNS = ("jti", "client_id", "subject", "family_id", "expires_at", "issued_at")
REVOCATION_COLUMNS = ("jti", "expires_at", "revoked_at", "reason")
LOADS: tuple[tuple[str, Sequence[str], Callable[[Plan], Iterator[Row]]], ...] = (
    ("users", USER_COLUMNS, users),
    ("clients", CLIENT_COLUMNS, clients),
    ("apis", ("identifier", "name", "created_at"), apis),
    ("api_scopes", ("scope", "api_identifier", "position", "description"), api_scopes),
    ("access_tokens", TOKEN_COLUMNS, access_tokens),
    ("revocations", REVOCATION_COLUMNS, revocations),
)


def batches(rows: Iterator[Row], size: int = BATCH) -> Iterator[list[Row]]:
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


# SQLite ---------------------------------------------------------------------------------


def sqlite_path(url: str) -> Path | None:
    for prefix in ("sqlite+aiosqlite:///", "sqlite:///"):
        if url.startswith(prefix):
            return Path(url[len(prefix) :])
    return None


def load_sqlite(path: Path, p: Plan, progress: Callable[[str, int, float], None]) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        journal = connection.execute("PRAGMA journal_mode").fetchone()[0]
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-1000000")
        connection.execute("PRAGMA temp_store=MEMORY")
        for table, columns, make in p.loads():
            started = time.perf_counter()
            marks = ", ".join("?" * len(columns))
            statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
            for chunk in batches(make(p), 500_000):
                connection.execute("BEGIN")
                connection.executemany(statement, chunk)
                connection.execute("COMMIT")
            progress(table, p.n.get(table, p.n["apis"]), time.perf_counter() - started)
        connection.execute(f"PRAGMA journal_mode={journal}")
        connection.execute("ANALYZE")
    finally:
        connection.close()


def sqlite_stats(path: Path) -> list[TableStat]:
    """Rows and bytes per table; bytes from ``dbstat`` (the table's pages and its indexes')."""
    connection = sqlite3.connect(path)
    try:
        sizes: dict[str, int] = {}
        indexes = connection.execute("SELECT name, tbl_name FROM sqlite_master").fetchall()
        owner = {name: table for name, table in indexes}
        for name, size in connection.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
            table = owner.get(name, name)
            sizes[table] = sizes.get(table, 0) + int(size)
        found = []
        for table in STAT_TABLES:
            count = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            found.append(TableStat(table, int(count), sizes.get(table, 0)))
        return found
    finally:
        connection.close()


STAT_TABLES = (*TABLES, "refresh_tokens", "token_families", "authorization_codes", "sessions")


# PostgreSQL -----------------------------------------------------------------------------


def postgres_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def load_postgres(url: str, p: Plan, progress: Callable[[str, int, float], None]) -> None:
    import asyncpg

    connection = await asyncpg.connect(postgres_dsn(url))
    try:
        for table, columns, make in p.loads():
            started = time.perf_counter()
            async with connection.transaction():
                for chunk in batches(make(p)):
                    await connection.copy_records_to_table(
                        table, records=chunk, columns=list(columns)
                    )
            progress(table, p.n.get(table, p.n["apis"]), time.perf_counter() - started)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def postgres_stats(url: str) -> list[TableStat]:
    import asyncpg

    connection = await asyncpg.connect(postgres_dsn(url))
    try:
        found = []
        for table in STAT_TABLES:
            rows = await connection.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608
            size = await connection.fetchval("SELECT pg_total_relation_size($1::regclass)", table)
            found.append(TableStat(table, int(rows), int(size)))
        return found
    finally:
        await connection.close()


async def _postgres_setting(url: str, name: str) -> str:
    import asyncpg

    connection = await asyncpg.connect(postgres_dsn(url))
    try:
        return str(await connection.fetchval("SELECT current_setting($1)", name))
    finally:
        await connection.close()


def autovacuum(url: str) -> str:
    """The server's ``autovacuum`` setting; SQLite has none (it reuses freed pages)."""
    return "n/a (SQLite)" if sqlite_path(url) else asyncio.run(_postgres_setting(url, "autovacuum"))


# Entry points ---------------------------------------------------------------------------


def stats(url: str) -> list[TableStat]:
    path = sqlite_path(url)
    return sqlite_stats(path) if path else asyncio.run(postgres_stats(url))


def seed(url: str, scale: float, *, quiet: bool = False, tables: Sequence[str] = TABLES) -> float:
    """Bulk-load ``url`` at ``scale``; the seconds it took."""

    def progress(table: str, rows: int, seconds: float) -> None:
        if not quiet:
            print(f"  {table:<14} {rows:>11,} rows in {seconds:7.1f} s", flush=True)

    started = time.perf_counter()
    p = plan(scale)
    p.tables = frozenset(tables)
    path = sqlite_path(url)
    if path is not None:
        load_sqlite(path, p, progress)
    else:
        asyncio.run(load_postgres(url, p, progress))
    return time.perf_counter() - started


def print_stats(found: Sequence[TableStat]) -> None:
    for stat in found:
        print(f"  {stat.table:<20} {stat.rows:>11,} rows {stat.bytes / 2**20:>10.1f} MiB")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument(
        "--tables", default=",".join(TABLES), help="a comma-separated subset to load"
    )
    args = parser.parse_args(argv)
    if not args.database:
        print("seed_state: nothing to seed without --database; bench/state.py runs it")
        return 0
    tables = args.tables.split(",")
    unknown = set(tables) - set(TABLES)
    if unknown:
        parser.error(f"unknown tables: {', '.join(sorted(unknown))}")
    seconds = seed(args.database, args.scale, tables=tables)
    print(f"seeded at scale {args.scale:g} in {seconds:.1f} s")
    print_stats(stats(args.database))
    return 0


if __name__ == "__main__":
    sys.exit(main())
