"""``tollhouse clients``: registration rules, secrets shown once, stored only as hashes."""

from __future__ import annotations

from typing import Any

from tollhouse.models import Client
from tollhouse.security.client_secrets import ClientSecretHasher
from tollhouse.security.master_key import load_master_key
from tollhouse.security.passwords import PasswordHasher
from tollhouse.security.secretbox import SecretBox

from .cli_runner import Cli

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
}
VERIFIER = PasswordHasher.for_tests()  # argon2 takes the cost from the stored hash


def secret_hasher(cli: Cli) -> ClientSecretHasher:
    """The HMAC hasher the CLI and the server use, keyed by the data dir's master key."""
    return ClientSecretHasher.from_box(SecretBox(load_master_key(None, cli.data_dir).key))


def create(cli: Cli, *args: str) -> dict[str, Any]:
    result = cli("clients", "create", "--name", "web", "--json", *args).assert_ok()
    created: dict[str, Any] = result.json()
    return created


def seed(cli: Cli, client_id: str, *, secret: str | None = None, **fields: Any) -> Client:
    """Register a client straight in the database (for tests not about ``create``)."""
    client = Client(
        client_id=client_id,
        name=client_id,
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


def test_create_json_is_one_object_with_secret_and_rfc7591_metadata(cli: Cli) -> None:
    created = create(
        cli,
        "--redirect-uri", CALLBACK,
        "--redirect-uri", IPV6_CALLBACK,
        "--scope", "read write",
        "--grant-type", "authorization_code",
        "--grant-type", "refresh_token",
    )  # fmt: skip

    assert set(created) == METADATA_KEYS | {"client_secret", "client_secret_expires_at"}
    assert created["client_name"] == "web"
    assert created["redirect_uris"] == [CALLBACK, IPV6_CALLBACK]  # loopback IPs are fine
    assert created["grant_types"] == ["authorization_code", "refresh_token"]
    assert created["scope"] == "read write"
    assert created["token_endpoint_auth_method"] == "client_secret_basic"
    assert created["created_at"].endswith("Z")
    assert len(created["client_secret"]) >= 43  # 256 bits, base64url
    secret_hash = stored_hash(cli, created["client_id"])
    assert secret_hash is not None and created["client_secret"] not in secret_hash
    assert secret_hash.startswith("sha256$")
    assert secret_hasher(cli).verify(secret_hash, created["client_secret"])


def test_secret_is_printed_only_at_create_with_a_warning(cli: Cli) -> None:
    result = cli("clients", "create", "--name", "native", "--redirect-uri", IPV6_CALLBACK)
    result.assert_ok()
    fields = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    client_id, secret = fields["client_id"], fields["client_secret"]
    assert fields["redirect_uris"] == IPV6_CALLBACK
    assert "shown only once" in result.stdout

    later = cli.many(
        ["clients", "show", client_id],
        ["clients", "show", client_id, "--json"],
        ["clients", "list"],
    )

    for shown in later:
        assert shown.code == 0, shown
        assert client_id in shown.stdout
        assert secret not in shown.stdout and "$argon2" not in shown.stdout
        assert "client_secret:" not in shown.stdout and '"client_secret"' not in shown.stdout
    assert set(later[1].json()) == METADATA_KEYS
    assert IPV6_CALLBACK in later[2].stdout  # a table cell, not rich markup


def test_public_client_has_no_secret_and_cannot_rotate_one(cli: Cli) -> None:
    created = create(cli, "--public", "--redirect-uri", CALLBACK)

    assert created["client_secret"] is None
    assert "client_secret_expires_at" not in created
    assert created["token_endpoint_auth_method"] == "none"
    assert stored_hash(cli, created["client_id"]) is None
    cli("clients", "rotate-secret", created["client_id"]).assert_failure("public")


def test_unsafe_redirect_uris_are_usage_errors(cli: Cli) -> None:
    bad = ["http://example.com/cb", "https://a/cb#frag", "relative/cb", "http://localhost:9000/cb"]
    commands = [["clients", "create", "--name", "x", "--redirect-uri", uri] for uri in bad]

    results = cli.many(*commands)

    for uri, result in zip(bad, results, strict=True):
        result.assert_usage_error("--redirect-uri")
        assert uri in result.stderr


def test_inconsistent_create_arguments_are_usage_errors(cli: Cli) -> None:
    cases = {
        "a public client cannot use client_credentials": (
            ["--public", "--grant-type", "client_credentials"],
            "client_credentials",
        ),
        "authorization_code needs a redirect URI": ([], "--redirect-uri is required"),
        "scope names follow RFC 6749 section 3.3": (
            ["--redirect-uri", CALLBACK, "--scope", 'read "quoted"'],
            "invalid scope name",
        ),
        "refresh tokens come only with codes": (
            ["--grant-type", "client_credentials", "--grant-type", "refresh_token"],
            "refresh_token needs authorization_code",
        ),
    }
    commands = [["clients", "create", "--name", "x", *args] for args, _ in cases.values()]

    results = cli.many(*commands)

    for (why, (_, message)), result in zip(cases.items(), results, strict=True):
        assert result.code == 2, why
        result.assert_usage_error(message)
    assert not (cli.data_dir / "tollhouse.db").exists()  # refused before touching state


def test_rotated_secret_replaces_the_old_one(cli: Cli) -> None:
    client_id, first = "web", "the-first-secret"
    seed(cli, client_id, secret=first)

    human = cli("clients", "rotate-secret", client_id).assert_ok()
    rotated = cli("clients", "rotate-secret", client_id, "--json").assert_ok().json()

    assert "shown only once" in human.stdout
    second = human.stdout.split("client_secret: ", 1)[1].split()[0]
    assert rotated["client_id"] == client_id
    third = rotated["client_secret"]
    assert len({first, second, third}) == 3
    secret_hash = stored_hash(cli, client_id)
    assert secret_hash is not None
    hasher = secret_hasher(cli)
    assert hasher.verify(secret_hash, third)
    assert not hasher.verify(secret_hash, first)
    assert not hasher.verify(secret_hash, second)


def test_deleted_client_is_gone(cli: Cli) -> None:
    client_id = seed(cli, "doomed").client_id

    cli("clients", "delete", client_id).assert_ok()
    listed, shown, deleted = cli.many(
        ["clients", "list", "--json"],
        ["clients", "show", client_id],
        ["clients", "delete", client_id],
    )

    assert listed.assert_ok().json() == []
    for result in (shown, deleted):
        result.assert_failure(f"error: no client {client_id}")


def test_list_json_is_an_array_of_metadata_without_secrets(cli: Cli) -> None:
    service = create(cli, "--grant-type", "client_credentials", "--scope", "read")
    public = {"client_id": seed(cli, "public-app").client_id}

    listed, elsewhere = cli.many(
        ["clients", "list", "--json"],
        ["clients", "list", "--json", "--data-dir", str(cli.data_dir.parent / "other")],
    )

    clients = {entry["client_id"]: entry for entry in listed.assert_ok().json()}
    assert set(clients) == {service["client_id"], public["client_id"]}
    for entry in clients.values():
        assert set(entry) == METADATA_KEYS
    assert clients[public["client_id"]]["scope"] is None
    assert clients[public["client_id"]]["token_endpoint_auth_method"] == "none"
    assert clients[service["client_id"]]["scope"] == "read"
    assert clients[service["client_id"]]["grant_types"] == ["client_credentials"]
    assert clients[service["client_id"]]["redirect_uris"] == []  # none needed without code
    assert elsewhere.assert_ok().json() == []  # --data-dir wins over TOLLHOUSE_DATA_DIR


def test_resource_server_client_with_introspect_and_lifetimes(cli: Cli) -> None:
    cli("apis", "create", "--identifier", "https://sensors.test", "--scope", "read").assert_ok()
    created = create(
        cli,
        "--grant-type", "client_credentials",
        "--scope", "read",
        "--introspect",
        "--access-token-ttl", "300",
    )  # fmt: skip
    assert created["introspect_audiences"] == ["https://sensors.test"]
    assert created["access_token_ttl"] == 300
    cli(
        "clients", "create", "--name", "x", "--grant-type", "client_credentials",
        "--introspect", "https://nope.test",
    ).assert_failure("no API https://nope.test")  # fmt: skip
    cli(
        "clients", "create", "--name", "x", "--grant-type", "client_credentials",
        "--access-token-ttl", "4000",
    ).assert_usage_error()  # fmt: skip
