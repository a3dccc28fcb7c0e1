"""``clients create --auth-method private_key_jwt`` and ``clients update``: public keys
only, no secret, keys replaced on update."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

from ..cli_runner import Cli
from .stored import create, stored_hash


def key_file(tmp_path: Path, name: str, kid: str, *, private: bool = False) -> Path:
    key = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()), {"kid": kid})
    path = tmp_path / name
    path.write_text(json.dumps({"keys": [key.as_dict(private=private)]}))
    return path


def test_a_key_client_has_no_secret_and_its_keys_can_be_replaced(cli: Cli, tmp_path: Path) -> None:
    first = key_file(tmp_path, "one.json", "k1")
    created = create(
        cli, "--grant-type", "client_credentials",
        "--auth-method", "private_key_jwt", "--jwks-file", str(first),
    )  # fmt: skip
    client_id = created["client_id"]
    assert created["client_secret"] is None
    assert created["token_endpoint_auth_method"] == "private_key_jwt"
    assert [key["kid"] for key in created["jwks"]["keys"]] == ["k1"]
    assert stored_hash(cli, client_id) is None
    cli("clients", "rotate-secret", client_id).assert_failure("private_key_jwt")

    second = key_file(tmp_path, "two.json", "k2")
    updated = (
        cli("clients", "update", client_id, "--jwks-file", str(second), "--require-par", "--json")
        .assert_ok()
        .json()
    )
    assert [key["kid"] for key in updated["jwks"]["keys"]] == ["k2"]
    assert updated["require_pushed_authorization_requests"] is True

    moved = (
        cli("clients", "update", client_id, "--jwks-uri", "https://gw.example/jwks.json", "--json")
        .assert_ok()
        .json()
    )
    assert moved["jwks"] is None and moved["jwks_uri"] == "https://gw.example/jwks.json"
    assert moved["require_pushed_authorization_requests"] is True  # kept


def test_private_keys_and_missing_keys_are_usage_errors(cli: Cli, tmp_path: Path) -> None:
    leaked = key_file(tmp_path, "private.json", "k1", private=True)
    base = ["clients", "create", "--name", "x", "--grant-type", "client_credentials"]
    cli(*base, "--auth-method", "private_key_jwt", "--jwks-file", str(leaked)).assert_usage_error(
        "private key members"
    )
    cli(*base, "--auth-method", "private_key_jwt").assert_usage_error("jwks")
    cli("clients", "update", "nobody", "--require-par").assert_failure("nobody")
