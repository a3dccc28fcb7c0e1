"""``tollhouse clients create``: registration rules, secrets shown once, stored only as
digests."""

from __future__ import annotations

from ..cli_runner import Cli
from .stored import (
    CALLBACK,
    IPV6_CALLBACK,
    METADATA_KEYS,
    create,
    secret_hasher,
    seed,
    stored_hash,
)


def test_create_json_is_one_object_with_secret_and_rfc7591_metadata(cli: Cli) -> None:
    cli(
        "apis", "create", "--identifier", "https://api.test", "--scope", "read", "--scope", "write"
    ).assert_ok()
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


def test_dpop_bound_client(cli: Cli) -> None:
    """RFC 9449 §5.2 ``dpop_bound_access_tokens``: shown, stored, off by default."""
    bound = create(cli, "--public", "--redirect-uri", CALLBACK, "--dpop-bound")
    plain = create(cli, "--public", "--redirect-uri", CALLBACK)

    assert bound["dpop_bound_access_tokens"] is True
    assert plain["dpop_bound_access_tokens"] is False
    shown = cli("clients", "show", bound["client_id"])
    shown.assert_ok()
    assert "dpop_bound_access_tokens: true" in shown.stdout


def test_a_client_can_require_a_passkey(cli: Cli) -> None:
    """``--require-passkey``: its users sign in with a passkey (acr phr); shown, stored."""
    strict = create(cli, "--public", "--redirect-uri", CALLBACK, "--require-passkey")
    plain = create(cli, "--public", "--redirect-uri", CALLBACK)
    assert strict["require_passkey"] is True and plain["require_passkey"] is False
    shown = cli("clients", "show", strict["client_id"])
    shown.assert_ok()
    assert "second factor: passkey required" in shown.stdout


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


def test_client_id_of_the_operators_choosing(cli: Cli) -> None:
    created = create(cli, "--client-id", "GRID_001", "--redirect-uri", CALLBACK)

    assert created["client_id"] == "GRID_001"
    shown = cli("clients", "show", "GRID_001", "--json").assert_ok().json()
    assert shown["client_name"] == "web"
    assert secret_hasher(cli).verify(stored_hash(cli, "GRID_001") or "", created["client_secret"])


def test_client_id_in_use_is_refused_naming_it(cli: Cli) -> None:
    create(cli, "--client-id", "grid.monitor-2", "--redirect-uri", CALLBACK)

    again = cli(
        "clients", "create", "--name", "other", "--client-id", "grid.monitor-2",
        "--redirect-uri", CALLBACK,
    )  # fmt: skip

    again.assert_failure("client id grid.monitor-2 is already in use")
    listed = cli("clients", "list", "--json").assert_ok().json()
    assert [c["client_name"] for c in listed] == ["web"]


def test_client_id_outside_the_rules_is_a_usage_error(cli: Cli) -> None:
    # Each rule's own cases: tests/protocol/test_client_ids.py.
    cases = {"ab": "3-64", "grid/001": "only letters, digits", "-grid": "start with a letter"}
    commands = [
        ["clients", "create", "--name", "x", "--redirect-uri", CALLBACK, f"--client-id={value}"]
        for value in cases
    ]

    results = cli.many(*commands)

    for (value, message), result in zip(cases.items(), results, strict=True):
        result.assert_usage_error("--client-id")
        assert message in result.stderr, value
    assert not (cli.data_dir / "tollhouse.db").exists()  # refused before touching state


def test_longest_and_shortest_client_ids_are_accepted(cli: Cli) -> None:
    longest, shortest = "A" + "b.c_d-9" * 9, "a-1"
    assert len(longest) == 64
    for client_id in (longest, shortest):
        assert (
            create(cli, "--client-id", client_id, "--public", "--redirect-uri", CALLBACK)[
                "client_id"
            ]
            == client_id
        )


def test_generated_client_ids_never_read_as_options(cli: Cli) -> None:
    # Many more ids are drawn in tests/protocol/test_client_ids.py.
    made = cli.many(
        *(
            ["clients", "create", "--name", f"app{i}", "--public", "--redirect-uri", CALLBACK,
             "--json"]
            for i in range(4)
        )
    )  # fmt: skip

    ids = [result.assert_ok().json()["client_id"] for result in made]
    assert len(set(ids)) == len(ids)
    for client_id in ids:
        assert client_id[0].isascii() and client_id[0].isalnum(), client_id
    shown = cli.many(*(["clients", "show", client_id, "--json"] for client_id in ids))
    assert [result.assert_ok().json()["client_id"] for result in shown] == ids


def test_undefined_scope_is_refused_naming_apis_create(cli: Cli) -> None:
    cli("apis", "create", "--identifier", "https://sensors.test", "--scope", "read_sensors")

    typo = cli(
        "clients", "create", "--name", "x", "--redirect-uri", CALLBACK,
        "--scope", "openid read_sensorz",
    )  # fmt: skip

    typo.assert_failure("read_sensorz is not defined")
    assert "tollhouse apis create --identifier URI --scope read_sensorz" in typo.stderr
    assert cli("clients", "list", "--json").assert_ok().json() == []


def test_scopes_of_openid_connect_and_of_apis_are_accepted(cli: Cli) -> None:
    cli("apis", "create", "--identifier", "https://sensors.test", "--scope", "read_sensors")

    created = create(
        cli, "--redirect-uri", CALLBACK, "--grant-type", "authorization_code",
        "--grant-type", "refresh_token",
        "--scope", "openid profile email offline_access read_sensors",
    )  # fmt: skip

    assert created["scope"] == "openid profile email offline_access read_sensors"


def test_cors_origins_are_stored_and_shown(cli: Cli) -> None:
    created = create(
        cli, "--public", "--redirect-uri", CALLBACK,
        "--cors-origin", "https://spa.example", "--cors-origin", "http://127.0.0.1:9002",
    )  # fmt: skip
    assert created["allowed_cors_origins"] == ["https://spa.example", "http://127.0.0.1:9002"]
    shown = cli("clients", "show", created["client_id"], "--json")
    assert shown.json()["allowed_cors_origins"] == created["allowed_cors_origins"]


def test_a_cors_origin_with_a_path_is_a_usage_error(cli: Cli) -> None:
    result = cli("clients", "create", "--name", "spa", "--public", "--redirect-uri", CALLBACK,
                 "--cors-origin", "https://spa.example/app")  # fmt: skip
    assert result.code == 2 and "--cors-origin" in result.stderr


def test_a_name_another_client_has_is_created_with_a_warning_naming_it(cli: Cli) -> None:
    """The operator decides: a name squatted through open registration must not stop
    the real client, so the CLI warns (naming the holder) instead of refusing."""
    seed(cli, "squatter", name="Grid-Monitor", self_registered=True)
    result = cli(
        "clients", "create", "--name", "grid  monitor", "--redirect-uri", CALLBACK, "--json"
    ).assert_ok()
    assert result.json()["client_name"] == "grid  monitor"
    assert "warning:" in result.stderr and "squatter" in result.stderr
    assert "third party" in result.stderr and "tollhouse clients delete squatter" in result.stderr
    quiet = cli("clients", "create", "--name", "Tide Tables", "--redirect-uri", CALLBACK)
    assert "warning: another client" not in quiet.assert_ok().stderr
