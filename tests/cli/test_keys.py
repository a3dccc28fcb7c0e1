"""``tollhouse keys list``: public facts only, so it needs no master key."""

from __future__ import annotations

import os
import re

from tollhouse import keys
from tollhouse.security.secretbox import SecretBox
from tollhouse.storage.ports import Storage

from .cli_runner import Cli

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
NOW = 1_800_000_000


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
        "created_at": "2027-01-15T08:00:00Z",
        "retired_at": None,
        "current": True,
    }
    assert by_kid[old.kid]["current"] is False  # an older active key of the same alg
    assert by_kid[retired.kid]["status"] == "retired"
    assert by_kid[retired.kid]["current"] is False
    assert ISO_UTC.match(by_kid[retired.kid]["retired_at"])
    assert all(ISO_UTC.match(entry["created_at"]) for entry in entries)
    assert "d" not in {name for entry in entries for name in entry}  # no private material
    stdout = table.assert_ok().stdout
    assert all(kid in stdout for kid in by_kid)
    assert stdout.count("signing") == 1
    assert not (cli.data_dir / "master.key").exists()
