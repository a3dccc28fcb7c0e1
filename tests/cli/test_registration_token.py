"""``tollhouse registration-token create``: initial access tokens, stored as fingerprints."""

from __future__ import annotations

import time

from tollhouse.randomness import fingerprint
from tollhouse.storage.ports import Storage

from .cli_runner import Cli


def stored(cli: Cli, value: str) -> object:
    async def work(storage: Storage) -> object:
        return await storage.get_initial_access_token(fingerprint(value))

    return cli.query(work)


def test_token_is_printed_once_and_only_its_fingerprint_is_stored(cli: Cli) -> None:
    before = int(time.time())
    created = cli("registration-token", "create", "--json").assert_ok().json()
    human = cli("registration-token", "create", "--expires-in", "600", "--uses", "5").assert_ok()

    value = created["token"]
    assert len(value) >= 43
    record = stored(cli, value)
    assert record is not None
    assert record.uses_left == 1  # type: ignore[attr-defined]
    assert before + 86400 <= record.expires_at <= int(time.time()) + 86400  # type: ignore[attr-defined]
    assert created["expires_at"] == record.expires_at  # type: ignore[attr-defined]
    assert value not in cli.data_dir.joinpath("tollhouse.db").read_bytes().decode("latin-1")

    assert "shown only once" in human.stdout
    other = stored(cli, human.stdout.split("token: ", 1)[1].split()[0])
    assert other is not None
    assert other.uses_left == 5  # type: ignore[attr-defined]
    assert other.expires_at <= int(time.time()) + 600  # type: ignore[attr-defined]


def test_nonsense_expiry_or_uses_are_usage_errors(cli: Cli) -> None:
    zero_uses, zero_expiry = cli.many(
        ["registration-token", "create", "--uses", "0"],
        ["registration-token", "create", "--expires-in", "0"],
    )
    zero_uses.assert_usage_error("--uses")
    zero_expiry.assert_usage_error("--expires-in")
