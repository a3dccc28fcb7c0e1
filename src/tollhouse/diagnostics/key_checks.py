"""Signing keys: every active private key opens with the master key and matches the
public JWK that ``/jwks.json`` publishes; every ``kid`` is its RFC 7638 thumbprint.

The keys table is the JWKS: a server publishes the ``public_jwk`` of each active and
retired row (:meth:`tollhouse.keys.ring.KeyRing.jwks`). So "private matches published" is
checked here by deriving the public JWK from the decrypted private one and comparing it
with the row; :func:`check_published` compares a live server's JWKS with the table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from joserfc import jwk

from tollhouse.algorithms import DEFAULT_RSA_KEY_BITS, SIGNING_ALGS
from tollhouse.diagnostics.findings import Finding, error, ok, warning
from tollhouse.keys.lifecycle import (
    DEFAULT_RETENTION,
    PENDING,
    SIGNING,
    KeyPhase,
    activation_time,
    phases,
)
from tollhouse.models import SigningKey
from tollhouse.resource.jwk import b64decode
from tollhouse.security.secretbox import DecryptionError, SecretBox

CHECK = "keys"
KEY_MAX_AGE = 365 * 24 * 3600
"""A key that has signed for longer than this should be rotated."""
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
"""RFC 7518 §6.2.2, §6.3.2, §6.4 and RFC 8037 §2: members that must never be published."""
_META = frozenset({"kid", "alg", "use", "key_ops"})


def check_keys(
    records: Sequence[SigningKey],
    box: SecretBox | None,
    signing_alg: str,
    now: int,
    retention: int = DEFAULT_RETENTION,
    rsa_bits: int = DEFAULT_RSA_KEY_BITS,
) -> list[Finding]:
    """One finding per problem (or per healthy published key); ``box`` None skips
    decryption. Phases (pending, signing, retired, expired) are those every server
    computes (:mod:`tollhouse.keys.lifecycle`). An RSA key that signs (or will) with a
    modulus shorter than ``rsa_bits`` (``TOLLHOUSE_RSA_KEY_BITS``) is a warning: the
    setting reaches only keys made after it."""
    found: list[Finding] = []
    views = phases(records, now, retention)
    if not any(v.phase in (SIGNING, PENDING) and v.key.alg == signing_alg for v in views):
        what = "no signing keys yet" if not records else f"no active {signing_alg} key"
        found.append(
            warning(
                CHECK,
                f"{what}; `tollhouse serve` creates one at start (TOLLHOUSE_SIGNING_ALG="
                f"{signing_alg})",
                "start the server once, or run `tollhouse keys rotate`",
            )
        )
    for view in views:
        if view.published:
            found.extend(_check_published_key(view, box, now, rsa_bits))
    return found


def _check_published_key(
    view: KeyPhase, box: SecretBox | None, now: int, rsa_bits: int
) -> list[Finding]:
    """The problems of one published key, or one ``ok`` finding describing it."""
    record = view.key
    opens = view.phase in (SIGNING, PENDING)
    problems = _public_problems(record)
    if opens and box is not None and not problems:
        problems = _private_problems(record, box)
    if problems:
        return problems
    if view.phase == SIGNING and now - activation_time(record) > KEY_MAX_AGE:
        return [
            warning(
                CHECK,
                f"signing {record.alg} key {record.kid} has signed for over a year",
                "rotate it: `tollhouse keys rotate`",
            )
        ]
    bits = _rsa_bits(record)
    if opens and bits is not None and bits < rsa_bits:
        return [
            warning(
                CHECK,
                f"{view.phase} {record.alg} key {record.kid} is RSA-{bits}, shorter than "
                f"TOLLHOUSE_RSA_KEY_BITS={rsa_bits}",
                f"rotate it: `tollhouse keys rotate --alg {record.alg}` (new keys get "
                f"{rsa_bits} bits)",
            )
        ]
    size = f" RSA-{bits}," if bits is not None else ""
    opened = " opens with the master key," if opens and box is not None else ""
    return [
        ok(
            CHECK,
            f"{view.phase} {record.alg} key {record.kid}{size}{opened} kid is its "
            "RFC 7638 thumbprint, public JWK consistent",
        )
    ]


def _rsa_bits(record: SigningKey) -> int | None:
    """The modulus length of an RSA key's published JWK (RFC 7518 §6.3.1.1), else None."""
    modulus = record.public_jwk.get("n") if record.public_jwk.get("kty") == "RSA" else None
    if not isinstance(modulus, str):
        return None
    try:
        return int.from_bytes(b64decode(modulus), "big").bit_length()
    except ValueError:
        return None


def published_keys(
    records: Sequence[SigningKey], now: int, retention: int = DEFAULT_RETENTION
) -> list[SigningKey]:
    """The keys a server publishes at ``now`` (pending, signing and retired ones)."""
    return [v.key for v in phases(records, now, retention) if v.published]


def check_published(records: Sequence[SigningKey], jwks: Any, where: str) -> list[Finding]:
    """A server's JWKS (fetched from ``where``) equals ``records``, the keys the table
    says it publishes (:func:`published_keys`)."""
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list) or not all(isinstance(k, Mapping) for k in keys):
        return [
            error(
                "server",
                f"{where} is not a JWK Set (RFC 7517 §5)",
                "check that the URL points at this Tollhouse server",
            )
        ]
    served = {str(k.get("kid")): dict(k) for k in keys}
    expected = {r.kid: r.public_jwk for r in records}
    found: list[Finding] = []
    missing = sorted(set(expected) - set(served))
    extra = sorted(set(served) - set(expected))
    differing = sorted(k for k in set(expected) & set(served) if served[k] != expected[k])
    leaking = sorted(k for k, v in served.items() if PRIVATE_MEMBERS & set(v))
    if leaking:
        found.append(
            error(
                "server",
                f"{where} publishes private key material for {', '.join(leaking)}",
                "stop the server, retire and rotate those keys at once",
            )
        )
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"unknown {', '.join(extra)}")
        found.append(
            error(
                "server",
                f"{where} differs from the keys table: {'; '.join(parts)}",
                "the server reads another database, or has not reloaded keys yet "
                "(wait 10 s; check --database and TOLLHOUSE_DATABASE)",
            )
        )
    if differing:
        found.append(
            error(
                "server",
                f"{where} publishes other key material for {', '.join(differing)}",
                "the server reads another database; check --database and TOLLHOUSE_DATABASE",
            )
        )
    if not found:
        found.append(ok("server", f"{where} publishes exactly the keys table ({len(served)} keys)"))
    return found


def _public_problems(record: SigningKey) -> list[Finding]:
    public = record.public_jwk
    kid = record.kid
    leaked = sorted(PRIVATE_MEMBERS & set(public))
    if leaked:
        return [
            error(
                CHECK,
                f"key {kid}: the published JWK contains private members ({', '.join(leaked)})",
                f"retire it now (`tollhouse keys retire {kid}`) and rotate",
            )
        ]
    if record.alg not in SIGNING_ALGS:
        return [
            error(
                CHECK,
                f"key {kid} has unsupported alg {record.alg!r}",
                f"retire it: `tollhouse keys retire {kid}`",
            )
        ]
    try:
        thumbprint = jwk.import_key(dict(public)).thumbprint()
    except Exception as exc:
        return [
            error(
                CHECK,
                f"key {kid}: the public JWK does not parse ({type(exc).__name__})",
                f"retire it: `tollhouse keys retire {kid}`",
            )
        ]
    if thumbprint != kid:
        return [
            error(
                CHECK,
                f"key {kid}: kid is not the RFC 7638 thumbprint of its public JWK ({thumbprint})",
                f"the row was altered; retire it (`tollhouse keys retire {kid}`) and rotate",
            )
        ]
    labels = {"kid": kid, "alg": record.alg, "use": "sig"}
    wrong = sorted(name for name, value in labels.items() if public.get(name) != value)
    if wrong:
        return [
            warning(
                CHECK,
                f"key {kid}: the published JWK's {', '.join(wrong)} disagree with the row",
                "rotate (`tollhouse keys rotate`) so the JWKS carries kid, alg and use",
            )
        ]
    return []


def _private_problems(record: SigningKey, box: SecretBox) -> list[Finding]:
    kid = record.kid
    try:
        plaintext = box.open(record.private_ciphertext, aad=kid.encode("utf-8"))
    except DecryptionError:
        return [
            error(
                CHECK,
                f"active key {kid} cannot be decrypted with this master key",
                "restore the master key it was sealed with (TOLLHOUSE_MASTER_KEY or "
                f"<data-dir>/master.key), or retire it: `tollhouse keys retire {kid}`",
            )
        ]
    try:
        private = jwk.import_key(json.loads(plaintext))
        derived = private.as_dict(private=False)
    except Exception as exc:
        return [
            error(
                CHECK,
                f"active key {kid}: the decrypted private key is corrupt ({type(exc).__name__})",
                f"retire it (`tollhouse keys retire {kid}`) and rotate",
            )
        ]
    if not private.is_private:
        return [
            error(
                CHECK,
                f"active key {kid}: the sealed key holds no private part",
                f"retire it (`tollhouse keys retire {kid}`) and rotate",
            )
        ]
    mismatched = sorted(
        name
        for name, value in derived.items()
        if name not in _META and record.public_jwk.get(name) != value
    )
    if mismatched or private.thumbprint() != kid:
        return [
            error(
                CHECK,
                f"active key {kid}: the private key does not match the published public JWK",
                f"the row was altered; retire it (`tollhouse keys retire {kid}`) and rotate",
            )
        ]
    return []
