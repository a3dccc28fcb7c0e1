"""``tollhouse apis``: RFC 8707 resource identifiers and the scopes each API owns."""

from __future__ import annotations

from tollhouse.models import Api

from .cli_runner import Cli

ORDERS = "https://api.example.com/orders"


def seed(cli: Cli, identifier: str, *scopes: str) -> Api:
    """Register an API straight in the database (for tests not about ``create``)."""
    api = Api(identifier=identifier, scopes=scopes, created_at=1_800_000_000)
    cli.query(lambda storage: storage.add_api(api))
    return api


def test_create_and_list(cli: Cli) -> None:
    orders, billing = cli.many(
        [
            "apis", "create", "--identifier", ORDERS, "--name", "Orders",
            "--scope", "orders:read", "--scope", "orders:write", "--json",
        ],
        ["apis", "create", "--identifier", "urn:example:billing", "--scope", "billing"],
    )  # fmt: skip
    created = orders.assert_ok().json()
    billing.assert_ok()

    listed, table = cli.many(["apis", "list", "--json"], ["apis", "list"])

    assert set(created) == {"identifier", "name", "scopes", "scope_descriptions", "created_at"}
    assert created["scopes"] == ["orders:read", "orders:write"]
    assert created["name"] == "Orders"
    assert listed.assert_ok().json() == [
        created,
        {
            "identifier": "urn:example:billing",
            "name": None,
            "scopes": ["billing"],
            "scope_descriptions": {},
            "created_at": listed.json()[1]["created_at"],
        },
    ]
    assert ORDERS in table.assert_ok().stdout and "urn:example:billing" in table.stdout


def test_a_scope_belongs_to_one_api(cli: Cli) -> None:
    seed(cli, ORDERS, "orders:read")

    taken, duplicate = cli.many(
        ["apis", "create", "--identifier", "https://other.example", "--scope", "orders:read"],
        ["apis", "create", "--identifier", ORDERS, "--scope", "orders:admin"],
    )

    taken.assert_failure(f"scope 'orders:read' belongs to API '{ORDERS}'")
    duplicate.assert_failure("already exists")


def test_identifier_must_be_absolute_uri_without_fragment(cli: Cli) -> None:
    relative, fragment, no_scope, bad_scope = cli.many(
        ["apis", "create", "--identifier", "orders", "--scope", "s"],
        ["apis", "create", "--identifier", f"{ORDERS}#v1", "--scope", "s"],
        ["apis", "create", "--identifier", ORDERS],
        ["apis", "create", "--identifier", ORDERS, "--scope", "two words"],
    )

    relative.assert_usage_error("absolute URI")
    fragment.assert_usage_error("fragment")
    no_scope.assert_usage_error("--scope")
    bad_scope.assert_usage_error("invalid scope name")


def test_scopes_get_plain_words_for_the_consent_page(cli: Cli) -> None:
    created = cli(
        "apis", "create", "--identifier", ORDERS, "--json",
        "--scope", "orders:read", "--scope", "orders:write",
        "--scope-description", "orders:read", "  See your orders ",
    )  # fmt: skip
    listed = cli("apis", "list", "--json")

    described = {"orders:read": "See your orders"}
    assert created.assert_ok().json()["scope_descriptions"] == described
    assert listed.assert_ok().json()[0]["scope_descriptions"] == described


def test_a_scope_description_names_a_scope_of_the_api_in_one_line(cli: Cli) -> None:
    foreign, empty, two_lines = cli.many(
        [
            "apis", "create", "--identifier", ORDERS, "--scope", "orders:read",
            "--scope-description", "orders:write", "Change your orders",
        ],
        [
            "apis", "create", "--identifier", ORDERS, "--scope", "orders:read",
            "--scope-description", "orders:read", " ",
        ],
        [
            "apis", "create", "--identifier", ORDERS, "--scope", "orders:read",
            "--scope-description", "orders:read", "See\nyour orders",
        ],
    )  # fmt: skip

    foreign.assert_usage_error("not one of this API's --scope values")
    empty.assert_usage_error("printable characters")
    two_lines.assert_usage_error("printable characters")


def test_create_help_shows_the_scope_description_option(cli: Cli) -> None:
    assert "--scope-description SCOPE TEXT" in cli("apis", "create", "--help").assert_ok().stdout


def test_deleted_api_is_gone_and_frees_its_scopes(cli: Cli) -> None:
    seed(cli, ORDERS, "orders:read")

    cli("apis", "delete", ORDERS).assert_ok()
    listed, deleted = cli.many(["apis", "list", "--json"], ["apis", "delete", ORDERS])

    assert listed.assert_ok().json() == []
    deleted.assert_failure(f"error: no API {ORDERS}")
    seed(cli, "https://v2.example", "orders:read")  # the scope is free again
