"""``tollhouse keys list|rotate|retire|rewrap`` through the real console script."""

from __future__ import annotations

import base64
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path

from tollhouse import keys
from tollhouse.models import SigningKey
from tollhouse.security.master_key import load_master_key
from tollhouse.security.secretbox import SecretBox
from tollhouse.storage.ports import Storage

from .cli_runner import Cli

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
NOW = 1_800_000_000


def seed_keys(cli: Cli, *, pending: bool = False) -> list[str]:
    """What the servers made (sealed under the data dir's master key), written in this
    process: a signing ES256 key, and with ``pending`` its successor, due in 10 min."""
    box = SecretBox(load_master_key(None, cli.data_dir).key)
    now = int(time.time())
    made = [keys.generate("ES256", box, now - 60, activates_at=now - 60, generation=1)]
    if pending:
        made.append(keys.generate("ES256", box, now, activates_at=now + 600, generation=2))

    async def store(storage: Storage) -> None:
        for key in made:
            await storage.add_key(key)

    cli.query(store)
    return [key.kid for key in made]


def stored(cli: Cli) -> dict[str, SigningKey]:
    async def read(storage: Storage) -> list[SigningKey]:
        return await storage.list_keys()

    return {key.kid: key for key in cli.query(read)}


def test_empty_store_lists_nothing(cli: Cli) -> None:
    listed, table = cli.many(["keys", "list", "--json"], ["keys", "list"])

    assert listed.assert_ok().json() == []
    assert table.assert_ok().stdout == ""


def test_lists_keys_and_the_current_signer_per_alg_without_the_master_key(cli: Cli) -> None:
    box = SecretBox(os.urandom(32))  # not the data dir's master key: listing never decrypts
    old = keys.generate("ES256", box, NOW - 100)
    new = keys.generate("ES256", box, NOW)
    retired = keys.generate("EdDSA", box, NOW - 50)

    async def store(storage: Storage) -> None:
        for key in (old, new, retired):
            await storage.add_key(key)
        await storage.set_key_status(retired.kid, "retired", NOW - 10)

    cli.query(store)

    listed, table = cli.many(["keys", "list", "--json"], ["keys", "list"])

    entries = listed.assert_ok().json()
    assert [entry["kid"] for entry in entries] == [new.kid, retired.kid, old.kid]  # newest first
    by_kid = {entry["kid"]: entry for entry in entries}
    assert by_kid[new.kid] == {
        "kid": new.kid,
        "alg": "ES256",
        "status": "active",
        "phase": "signing",
        "generation": None,
        "created_at": "2027-01-15T08:00:00Z",
        "activates_at": None,
        "retired_at": None,
        "published_until": None,
        "current": True,
        "never_signed": False,
    }
    # An older active key of the same alg was succeeded: retired from the new one's start.
    assert (by_kid[old.kid]["phase"], by_kid[old.kid]["current"]) == ("retired", False)
    assert by_kid[old.kid]["retired_at"] == "2027-01-15T08:00:00Z"
    assert by_kid[retired.kid]["status"] == "retired"
    assert by_kid[retired.kid]["current"] is False
    assert ISO_UTC.match(by_kid[retired.kid]["retired_at"])
    assert ISO_UTC.match(by_kid[retired.kid]["published_until"])
    assert all(ISO_UTC.match(entry["created_at"]) for entry in entries)
    assert "d" not in {name for entry in entries for name in entry}  # no private material
    stdout = table.assert_ok().stdout
    assert all(kid in stdout for kid in by_kid)
    assert stdout.count("signing") == 1
    assert not (cli.data_dir / "master.key").exists()


def test_rotate_publishes_a_key_that_signs_after_the_lead_time(cli: Cli) -> None:
    """Defaults from TOLLHOUSE_SIGNING_ALG and TOLLHOUSE_KEY_LEAD_TIME."""
    cli.env["TOLLHOUSE_SIGNING_ALG"] = "EdDSA"
    cli.env["TOLLHOUSE_KEY_LEAD_TIME"] = "600"
    first = cli("keys", "rotate", "--json").assert_ok().json()
    assert first["activates_at"] == first["created_at"]  # nothing signed EdDSA before
    assert (first["alg"], first["generation"], first["replaces"]) == ("EdDSA", 1, [])

    second = cli("keys", "rotate", "--json").assert_ok().json()
    assert second["generation"] == 2
    assert [old["kid"] for old in second["replaces"]] == [first["kid"]]
    listed, usage_alg, usage_lead = cli.many(
        ["keys", "list", "--json"],
        ["keys", "rotate", "--alg", "HS256"],
        ["keys", "rotate", "--lead-time", "-1"],
    )
    usage_alg.assert_usage_error("HS256")
    usage_lead.assert_usage_error("lead-time")

    by_kid = {entry["kid"]: entry for entry in listed.assert_ok().json()}
    assert by_kid[first["kid"]]["phase"] == "signing"
    assert by_kid[second["kid"]]["phase"] == "pending"
    assert by_kid[second["kid"]]["activates_at"] == second["activates_at"]
    assert _seconds(second["activates_at"]) - _seconds(second["created_at"]) == 600
    # Sealed under the data dir's master key, the one the servers read.
    master = SecretBox(load_master_key(None, cli.data_dir).key)
    for key in stored(cli).values():
        assert master.open(key.private_ciphertext, aad=key.kid.encode())


def test_rotate_at_once_says_a_pending_key_never_signs_and_list_agrees(cli: Cli) -> None:
    current, pending = seed_keys(cli, pending=True)
    rotated = cli("keys", "rotate", "--lead-time", "0").assert_ok().stdout
    lines = rotated.splitlines()
    assert any(line.startswith(f"{pending} (pending) will never sign") for line in lines), rotated
    assert any(line.startswith(f"{current} stops signing now") for line in lines), rotated
    assert f"{pending} stops signing" not in rotated

    listed, table = cli.many(["keys", "list", "--json"], ["keys", "list"])
    by_kid = {entry["kid"]: entry for entry in listed.assert_ok().json()}
    assert by_kid[pending]["never_signed"] is True
    assert by_kid[current]["never_signed"] is False
    row = next(line for line in table.assert_ok().stdout.splitlines() if pending in line)
    assert "retired (never signed)" in row and "never" in row.split("retired (never signed)")[1]


def _seconds(iso: str) -> int:
    return int(datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())


def test_retire_cancels_a_pending_key_and_needs_force_for_the_signing_one(cli: Cli) -> None:
    current, pending = seed_keys(cli, pending=True)
    cancelled, refused, unknown, dashed, with_h = cli.many(
        ["keys", "retire", pending],
        ["keys", "retire", current],
        ["keys", "retire", "nope"],
        # One kid in 64 starts with "-" (base64url): it is a kid, not an option.
        ["keys", "retire", "-9nope"],
        # Nor are its letters short options: an "h" in it must not print the help.
        ["keys", "retire", "-9hope"],
    )
    assert "never sign" in cancelled.assert_ok().stdout
    refused.assert_failure("rotate first")
    unknown.assert_failure("no signing key 'nope'")
    dashed.assert_failure("no signing key '-9nope'")
    with_h.assert_failure("no signing key '-9hope'")

    forced = cli("keys", "retire", current, "--force", "--json").assert_ok().json()
    assert (forced["phase"], forced["status"]) == ("retired", "retired")
    assert ISO_UTC.match(forced["published_until"])
    again, listed = cli.many(["keys", "retire", current], ["keys", "list", "--json"])
    assert "already retired" in again.assert_ok().stdout
    phases = {entry["kid"]: entry["phase"] for entry in listed.assert_ok().json()}
    assert phases == {current: "retired", pending: "retired"}


def test_rewrap_reencrypts_every_key_under_the_new_master_key(cli: Cli, tmp_path: Path) -> None:
    seed_keys(cli, pending=True)
    new_key = os.urandom(32)
    new_file = tmp_path / "new.key"
    new_file.write_text(base64.b64encode(new_key).decode())
    new_file.chmod(0o600)

    result = cli("keys", "rewrap", "--new-master-key-file", str(new_file))
    result.assert_ok()
    assert "Re-encrypted 2 signing keys" in result.stdout
    assert "switch the master key" in result.stdout
    for key in stored(cli).values():
        assert SecretBox(new_key).open(key.private_ciphertext, aad=key.kid.encode())

    # The old master key opens nothing now: rotating with it is refused (the servers
    # could not read what it would seal).
    cli("keys", "rotate").assert_failure("does not decrypt the stored signing keys")


def test_rewrap_refusals_and_the_key_from_the_environment(cli: Cli, tmp_path: Path) -> None:
    seed_keys(cli)
    same = tmp_path / "same.key"
    same.write_bytes((cli.data_dir / "master.key").read_bytes())
    same.chmod(0o600)
    no_key, missing, unchanged = cli.many(
        ["keys", "rewrap"],
        ["keys", "rewrap", "--new-master-key-file", str(tmp_path / "nope")],
        ["keys", "rewrap", "--new-master-key-file", str(same)],
    )
    no_key.assert_failure("--new-master-key-file or TOLLHOUSE_NEW_MASTER_KEY")
    missing.assert_failure("does not exist")
    unchanged.assert_failure("is the current one")

    cli.env["TOLLHOUSE_NEW_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode()
    done = cli("keys", "rewrap", "--json").assert_ok().json()
    assert len(done["rewrapped"]) == 1 and done["already"] == [] and done["skipped"] == []


def test_rewrap_refuses_while_pairwise_clients_exist(cli: Cli, tmp_path: Path) -> None:
    """Pairwise subjects are derived from the master key: a rewrap would change them."""
    seed_keys(cli)
    cli(
        "clients", "create", "--name", "pw", "--redirect-uri", "https://pw.test/cb",
        "--subject-type", "pairwise",
    ).assert_ok()  # fmt: skip
    new_file = tmp_path / "new.key"
    new_file.write_text(base64.b64encode(os.urandom(32)).decode())
    new_file.chmod(0o600)
    cli("keys", "rewrap", "--new-master-key-file", str(new_file)).assert_failure("pairwise")
    cli(
        "keys", "rewrap", "--new-master-key-file", str(new_file), "--allow-pairwise-change"
    ).assert_ok()  # fmt: skip
