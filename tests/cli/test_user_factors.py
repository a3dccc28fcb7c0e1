"""``tollhouse users show | totp enroll | recovery-codes create | mfa reset`` and the TOTP
secrets' part in ``keys rewrap``, through the real console script."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pyotp

from tollhouse.clock import SystemClock
from tollhouse.protocol import totp
from tollhouse.protocol.mfa import SecondFactors
from tollhouse.security.master_key import load_master_key
from tollhouse.security.secretbox import SecretBox

from .cli_runner import Cli
from .test_keys import seed_keys
from .test_users import seed


def verify(cli: Cli, box: SecretBox, code: str, user_id: str = "sub-alice") -> Any:
    async def work(storage: Any) -> Any:
        factors = SecondFactors(store=storage, sealer=box, clock=SystemClock(), issuer_name="x")
        return await factors.verify(user_id, code)

    return cli.query(work)


def test_enroll_show_codes_and_reset(cli: Cli) -> None:
    seed(cli)
    shown = cli("users", "show", "alice", "--json").assert_ok().json()
    assert shown["factors"] == {
        "totp": None,
        "totp_enrolled_at": None,
        "recovery_codes_left": 0,
        "passkeys": 0,
    }

    enrolled = cli("users", "totp", "enroll", "alice", "--json").assert_ok()
    made = enrolled.json()
    assert set(made) == {"secret", "uri"}
    assert pyotp.parse_uri(made["uri"]).secret == made["secret"]
    audit = json.loads(enrolled.stderr.splitlines()[-1])
    assert (audit["event"], audit["action"], audit["by"]) == ("mfa", "totp_enrolled", "operator")
    assert made["secret"] not in enrolled.stderr

    codes = cli("users", "recovery-codes", "create", "alice", "--json").assert_ok().json()["codes"]
    assert len(codes) == 10 and all(totp.looks_like_recovery_code(c) for c in codes)

    listed = cli("users", "show", "alice", "--json").assert_ok()
    factors = listed.json()["factors"]
    assert factors["totp"] == "confirmed" and factors["recovery_codes_left"] == 10
    assert made["secret"] not in listed.stdout and codes[0] not in listed.stdout
    table = cli("users", "show", "alice").assert_ok().stdout
    assert "confirmed" in table and made["secret"] not in table

    box = SecretBox(load_master_key(None, cli.data_dir).key)
    assert verify(cli, box, pyotp.TOTP(made["secret"]).now()) == "totp"

    cli("users", "mfa", "reset", "alice").assert_ok()
    after = cli("users", "show", "alice", "--json").assert_ok().json()["factors"]
    assert after == {
        "totp": None,
        "totp_enrolled_at": None,
        "recovery_codes_left": 0,
        "passkeys": 0,
    }
    cli("users", "totp", "enroll", "nobody", "--json").assert_failure("no user nobody")


def test_rewrap_reseals_totp_secrets(cli: Cli, tmp_path: Path) -> None:
    seed(cli)
    seed_keys(cli)
    secret = cli("users", "totp", "enroll", "alice", "--json").assert_ok().json()["secret"]
    new_key = os.urandom(32)
    new_file = tmp_path / "new.key"
    new_file.write_text(base64.b64encode(new_key).decode())
    new_file.chmod(0o600)
    result = cli("keys", "rewrap", "--new-master-key-file", str(new_file)).assert_ok()
    assert "Re-encrypted 1 TOTP secrets" in result.stdout

    code = pyotp.TOTP(secret).now()
    old = SecretBox(load_master_key(None, cli.data_dir).key)
    assert verify(cli, old, code) is None  # no longer opens: refused, not an error
    assert verify(cli, SecretBox(new_key), code) == "totp"
