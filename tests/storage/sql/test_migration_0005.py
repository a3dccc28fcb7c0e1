"""Migration 0005 (``self_registered`` on clients) on a database that already holds
clients: those registered over HTTP (holding a registration access token) become
self-registered, those of the CLI stay trusted; the migration goes down again. Runs on
a SQLite file and on PostgreSQL."""

from __future__ import annotations

from tests.storage.records import NOW
from tests.storage.sql.test_migration_0002 import fresh_url, move_to, run_sql
from tollhouse.storage.sql.migrate import migrate
from tollhouse.storage.sql.storage import open_storage

__all__ = ["fresh_url"]


def _client(client_id: str) -> str:
    return (
        "INSERT INTO clients (client_id, name, redirect_uris, grant_types, "
        "token_endpoint_auth_method, created_at, introspect_audiences, "
        "post_logout_redirect_uris, subject_type) VALUES "
        f"('{client_id}', '{client_id}', '[]', '[]', 'none', {NOW}, '[]', '[]', 'public')"
    )


async def test_clients_registered_over_http_become_self_registered(fresh_url: str) -> None:
    await move_to(fresh_url, "0004")
    await run_sql(
        fresh_url,
        [
            _client("from-the-cli"),
            _client("from-http"),
            "INSERT INTO registration_access_tokens (client_id, token_hash, created_at) "
            f"VALUES ('from-http', 'hash-1', {NOW})",
        ],
    )
    await migrate(fresh_url)
    storage = await open_storage(fresh_url, migrate=False)
    try:
        cli = await storage.get_client("from-the-cli")
        http = await storage.get_client("from-http")
    finally:
        await storage.close()
    assert cli is not None and not cli.self_registered
    assert http is not None and http.self_registered
    await move_to(fresh_url, "0004", down=True)
    await migrate(fresh_url)
