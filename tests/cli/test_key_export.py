"""``tollhouse keys export``: a published public key as PEM (or JWK), the current
signing key by default; nothing else, and no master key needed."""

from __future__ import annotations

import dataclasses
import os
import time

from joserfc import jwk

from tollhouse import keys
from tollhouse.models import SigningKey
from tollhouse.security.secretbox import SecretBox
from tollhouse.storage.ports import Storage

from .cli_runner import Cli


def seed(cli: Cli) -> dict[str, SigningKey]:
    """A signing ES256 key, its pending successor, one long expired, and an RS256 key;
    sealed under a box that is not the data dir's master key (export never opens it)."""
    box = SecretBox(os.urandom(32))
    now = int(time.time())
    made = {
        "signing": keys.generate("ES256", box, now - 60, generation=2),
        "pending": keys.generate("ES256", box, now, activates_at=now + 600, generation=3),
        "expired": dataclasses.replace(
            keys.generate("ES256", box, now - 90_000, generation=1),
            status="retired",
            retired_at=now - 80_000,
        ),
        "rs256": keys.generate("RS256", box, now - 60, generation=1),
    }
    # A kid is a base64url thumbprint; one in 64 starts with "-".
    made["pending"] = dataclasses.replace(made["pending"], kid="-" + made["pending"].kid[1:])

    async def store(storage: Storage) -> None:
        for key in made.values():
            await storage.add_key(key)

    cli("migrate").assert_ok()
    cli.query(store)
    return made


def same_key(pem: str, key: SigningKey) -> bool:
    kty = "EC" if key.alg == "ES256" else "RSA"
    exported = jwk.import_key(pem.encode(), kty).as_dict(private=False)
    fields = ("x", "y") if key.alg == "ES256" else ("n", "e")
    return all(exported[name] == key.public_jwk[name] for name in fields)


def test_prints_the_current_signing_key_as_pem_by_default(cli: Cli) -> None:
    made = seed(cli)

    default, explicit, rsa, pending = cli.many(
        ["keys", "export"],
        ["keys", "export", "--pem"],
        ["keys", "export", "--alg", "RS256"],
        ["keys", "export", made["pending"].kid, "--pem"],
    )

    for result in (default, explicit, rsa, pending):
        result.assert_ok()
        assert result.stdout.startswith("-----BEGIN PUBLIC KEY-----\n")
        assert result.stdout.endswith("-----END PUBLIC KEY-----\n")
        assert "PRIVATE" not in result.stdout
    assert default.stdout == explicit.stdout
    assert same_key(default.stdout, made["signing"])
    assert f"key {made['signing'].kid} (ES256, signing)" in default.stderr
    assert same_key(rsa.stdout, made["rs256"])
    assert same_key(pending.stdout, made["pending"])  # published before it signs


def test_jwk_form_is_the_published_public_jwk(cli: Cli) -> None:
    made = seed(cli)

    printed = cli("keys", "export", made["signing"].kid, "--jwk").assert_ok().json()

    assert printed == made["signing"].public_jwk
    assert "d" not in printed


def test_unknown_or_unpublished_kids_and_missing_keys_fail_with_one_line(cli: Cli) -> None:
    made = seed(cli)

    unknown, expired, both = cli.many(
        ["keys", "export", "no-such-kid"],
        ["keys", "export", made["expired"].kid],
        ["keys", "export", made["signing"].kid, "--alg", "ES256"],
    )
    cli.env["TOLLHOUSE_SIGNING_ALG"] = "EdDSA"
    no_eddsa = cli("keys", "export")

    unknown.assert_failure("no signing key no-such-kid; `tollhouse keys list`")
    expired.assert_failure("expired: no longer published")
    both.assert_usage_error("KID or --alg")
    no_eddsa.assert_failure("no EdDSA key signs yet")
    for result in (unknown, expired, no_eddsa):
        assert result.stdout == ""
