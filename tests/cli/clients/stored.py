"""Clients for the ``tollhouse clients`` tests: created through the CLI, seeded straight
into the database, and read back with the hasher the server uses."""

from __future__ import annotations

from typing import Any

from tollhouse.models import Client
from tollhouse.security.client_secrets import ClientSecretHasher
from tollhouse.security.master_key import load_master_key
from tollhouse.security.passwords import PasswordHasher
from tollhouse.security.secretbox import SecretBox

from ..cli_runner import Cli

CALLBACK = "http://127.0.0.1:9000/callback"
IPV6_CALLBACK = "http://[::1]:8080/cb"
METADATA_KEYS = {
    "client_id",
    "client_name",
    "redirect_uris",
    "grant_types",
    "response_types",
    "scope",
    "token_endpoint_auth_method",
    "client_id_issued_at",
    "created_at",
    "introspect_audiences",
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
    "id_token_signed_response_alg",
    "subject_type",
    "access_token_ttl",
    "refresh_token_ttl",
    "refresh_token_absolute_ttl",
    "allowed_cors_origins",
    "self_registered",
    "jwks",
    "jwks_uri",
    "require_pushed_authorization_requests",
    "require_signed_request_object",
    "dpop_bound_access_tokens",
    "require_mfa",
    "require_passkey",
    "tls_client_auth",
}
VERIFIER = PasswordHasher.for_tests()  # argon2 takes the cost from the stored hash


def secret_hasher(cli: Cli) -> ClientSecretHasher:
    """The hasher the CLI and the server use (it reads the data dir's master key for the
    digests of an earlier development build)."""
    return ClientSecretHasher.from_box(SecretBox(load_master_key(None, cli.data_dir).key))


def create(cli: Cli, *args: str) -> dict[str, Any]:
    result = cli("clients", "create", "--name", "web", "--json", *args).assert_ok()
    created: dict[str, Any] = result.json()
    return created


def seed(cli: Cli, client_id: str, *, secret: str | None = None, **fields: Any) -> Client:
    """Register a client straight in the database (for tests not about ``create``)."""
    client = Client(
        client_id=client_id,
        name=fields.pop("name", client_id),
        redirect_uris=(CALLBACK,),
        grant_types=("authorization_code",),
        token_endpoint_auth_method="none" if secret is None else "client_secret_basic",
        created_at=1_800_000_000,
        secret_hash=None if secret is None else VERIFIER.hash(secret),
        **fields,
    )
    cli.query(lambda storage: storage.add_client(client))
    return client


def stored_hash(cli: Cli, client_id: str) -> str | None:
    async def work(storage: Any) -> str | None:
        client = await storage.get_client(client_id)
        assert client is not None
        secret_hash: str | None = client.secret_hash
        return secret_hash

    return cli.query(work)
