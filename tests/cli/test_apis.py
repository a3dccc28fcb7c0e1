"""``tollhouse apis``: RFC 8707 resource identifiers and the scopes each API owns."""

from __future__ import annotations

from .cli_runner import Cli

ORDERS = "https://api.example.com/orders"


def test_create_and_list(cli: Cli) -> None:
    created = cli(
        "apis", "create", "--identifier", ORDERS, "--name", "Orders",
        "--scope", "orders:read", "--scope", "orders:write", "--json",
    ).assert_ok().json()  # fmt: skip
    cli("apis", "create", "--identifier", "urn:example:billing", "--scope", "billing").assert_ok()

    listed, table = cli.many(["apis", "list", "--json"], ["apis", "list"])

    assert set(created) == {"identifier", "name", "scopes", "created_at"}
    assert created["scopes"] == ["orders:read", "orders:write"]
    assert created["name"] == "Orders"
    assert listed.assert_ok().json() == [
        created,
        {
            "identifier": "urn:example:billing",
            "name": None,
            "scopes": ["billing"],
            "created_at": listed.json()[1]["created_at"],
        },
    ]
    assert ORDERS in table.assert_ok().stdout and "urn:example:billing" in table.stdout


def test_a_scope_belongs_to_one_api(cli: Cli) -> None:
    cli("apis", "create", "--identifier", ORDERS, "--scope", "orders:read").assert_ok()

    taken, duplicate = cli.many(
        ["apis", "create", "--identifier", "https://other.example", "--scope", "orders:read"],
        ["apis", "create", "--identifier", ORDERS, "--scope", "orders:admin"],
    )

    taken.assert_failure(f"scope 'orders:read' belongs to API '{ORDERS}'")
    duplicate.assert_failure("already exists")


def test_identifier_must_be_absolute_uri_without_fragment(cli: Cli) -> None:
    results = cli.many(
        ["apis", "create", "--identifier", "orders", "--scope", "s"],
        ["apis", "create", "--identifier", f"{ORDERS}#v1", "--scope", "s"],
        ["apis", "create", "--identifier", ORDERS],
        ["apis", "create", "--identifier", ORDERS, "--scope", "two words"],
    )

    results[0].assert_usage_error("absolute URI")
    results[1].assert_usage_error("fragment")
    results[2].assert_usage_error("--scope")
    results[3].assert_usage_error("invalid scope name")


def test_deleted_api_is_gone_and_frees_its_scopes(cli: Cli) -> None:
    cli("apis", "create", "--identifier", ORDERS, "--scope", "orders:read").assert_ok()

    cli("apis", "delete", ORDERS).assert_ok()
    listed, deleted, reused = cli.many(
        ["apis", "list", "--json"],
        ["apis", "delete", ORDERS],
        ["apis", "create", "--identifier", "https://v2.example", "--scope", "orders:read"],
    )

    assert listed.assert_ok().json() == []
    deleted.assert_failure(f"error: no API {ORDERS}")
    reused.assert_ok()
