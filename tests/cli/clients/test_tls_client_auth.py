"""``clients create --auth-method tls_client_auth --tls-subject-dn ...`` and
``self_signed_tls_client_auth --jwks-file``: RFC 8705 §2 clients have no secret."""

from __future__ import annotations

from pathlib import Path

from ..cli_runner import Cli
from .stored import create, stored_hash
from .test_keys import key_file

BASE = ("--grant-type", "client_credentials")


def test_tls_client_auth_registers_one_normalised_name(cli: Cli) -> None:
    created = create(
        cli, *BASE, "--auth-method", "tls_client_auth", "--tls-subject-dn", "CN=batch,O=Grid"
    )
    assert created["client_secret"] is None
    assert created["token_endpoint_auth_method"] == "tls_client_auth"
    assert created["tls_client_auth"] == "subject_dn CN=batch,O=Grid"
    assert stored_hash(cli, created["client_id"]) is None
    shown = cli("clients", "show", created["client_id"]).assert_ok()
    assert "subject_dn CN=batch,O=Grid" in shown.stdout


def test_the_name_rules_are_usage_errors(cli: Cli) -> None:
    base = ["clients", "create", "--name", "x", *BASE]
    cli(*base, "--auth-method", "tls_client_auth").assert_usage_error("exactly one")
    cli(
        *base, "--auth-method", "tls_client_auth",
        "--tls-san-dns", "a.example", "--tls-san-ip", "10.0.0.1",
    ).assert_usage_error("exactly one")  # fmt: skip
    cli(*base, "--auth-method", "tls_client_auth", "--tls-san-ip", "nope").assert_usage_error(
        "tls_client_auth_san_ip"
    )
    cli(*base, "--tls-san-dns", "a.example").assert_usage_error("only for")


def test_self_signed_needs_keys_and_has_no_secret(cli: Cli, tmp_path: Path) -> None:
    base = ["clients", "create", "--name", "x", *BASE]
    cli(*base, "--auth-method", "self_signed_tls_client_auth").assert_usage_error("jwks")
    keys = key_file(tmp_path, "k.json", "k1")
    created = create(
        cli, *BASE, "--auth-method", "self_signed_tls_client_auth", "--jwks-file", str(keys)
    )
    assert created["client_secret"] is None
    assert [key["kid"] for key in created["jwks"]["keys"]] == ["k1"]
