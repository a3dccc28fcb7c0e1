"""``tollhouse clients list``, ``show`` and ``delete``: metadata, never secrets."""

from __future__ import annotations

from ..cli_runner import Cli
from .stored import METADATA_KEYS, create, seed


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
    cli("apis", "create", "--identifier", "https://api.test", "--scope", "read").assert_ok()
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


def test_a_client_id_starting_with_a_dash_is_an_argument_not_an_option(cli: Cli) -> None:
    # Ids generated before they were kept from starting with "-" are still stored.
    client_id = seed(cli, "-dEOBO5hLegacy", secret="s3cret-of-the-legacy-client").client_id

    as_given, after_dashes, rotated = cli.many(
        ["clients", "show", client_id, "--json"],
        ["clients", "show", "--json", "--", client_id],
        ["clients", "rotate-secret", "--json", "--", client_id],
    )
    deleted = cli("clients", "delete", client_id)

    assert as_given.assert_ok().json()["client_id"] == client_id
    assert after_dashes.assert_ok().json()["client_id"] == client_id
    assert rotated.assert_ok().json()["client_id"] == client_id
    assert deleted.assert_ok().stdout == f"deleted client {client_id}\n"
    assert cli("clients", "list", "--json").assert_ok().json() == []


def test_a_self_registered_client_is_shown_as_such_until_the_operator_trusts_it(
    cli: Cli,
) -> None:
    client_id = seed(cli, "stranger", self_registered=True).client_id
    shown, as_json = cli.many(
        ["clients", "show", client_id], ["clients", "show", client_id, "--json"]
    )
    assert "registered by: a third party" in shown.assert_ok().stdout
    assert as_json.assert_ok().json()["self_registered"] is True

    trusted = cli("clients", "trust", client_id).assert_ok()
    assert client_id in trusted.stdout
    after, after_json = cli.many(
        ["clients", "show", client_id], ["clients", "show", client_id, "--json"]
    )
    assert "third party" not in after.assert_ok().stdout
    assert after_json.assert_ok().json()["self_registered"] is False
    cli("clients", "trust", "nobody").assert_failure("error: no client nobody")
