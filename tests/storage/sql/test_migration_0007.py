"""Migration 0007 (client keys, used assertion jtis, pushed requests) on a database that
already holds a client: it keeps its method and gets no keys and no requirements; the
new tables work; the migration goes down again. Runs on a SQLite file and on
PostgreSQL."""

from __future__ import annotations

from tests.storage.records import NOW
from tests.storage.sql.test_migration_0002 import fresh_url, move_to, run_sql
from tollhouse.models import PushedRequest
from tollhouse.storage.sql.migrate import migrate
from tollhouse.storage.sql.storage import open_storage

__all__ = ["fresh_url"]


async def test_existing_clients_keep_their_method_and_get_no_keys(fresh_url: str) -> None:
    await move_to(fresh_url, "0006")
    await run_sql(
        fresh_url,
        [
            "INSERT INTO clients (client_id, name, redirect_uris, grant_types, "
            "token_endpoint_auth_method, created_at, introspect_audiences, "
            "post_logout_redirect_uris, subject_type) VALUES "
            f"('old', 'old', '[]', '[]', 'client_secret_basic', {NOW}, '[]', '[]', 'public')"
        ],
    )
    await migrate(fresh_url)
    storage = await open_storage(fresh_url, migrate=False)
    try:
        client = await storage.get_client("old")
        assert await storage.use_once("jti:x", NOW + 60, NOW)
        await storage.add_pushed_request(PushedRequest("h", "old", {"state": "s"}, NOW + 60))
    finally:
        await storage.close()
    assert client is not None and client.token_endpoint_auth_method == "client_secret_basic"
    assert client.jwks is None and client.jwks_uri is None
    assert not client.require_pushed_authorization_requests
    assert not client.require_signed_request_object
    await move_to(fresh_url, "0006", down=True)
    await migrate(fresh_url)
