"""``tollhouse token signature``: a JWS signature as ``openssl dgst -verify`` reads it
(the whole ``openssl`` walk-through runs in tests/e2e/test_openssl_verification.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .cli_runner import Cli


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(alg: str, signature: bytes) -> str:
    header = b64(json.dumps({"alg": alg, "typ": "at+jwt", "kid": "k1"}).encode())
    return f"{header}.{b64(b'{}')}.{b64(signature)}"


def es256_token() -> tuple[str, bytes]:
    """A token signed with a fresh P-256 key, and its raw r || s (RFC 7518 §3.4)."""
    key = ec.generate_private_key(ec.SECP256R1())
    header = b64(b'{"alg":"ES256","typ":"at+jwt"}')
    payload = b64(b'{"sub":"s"}')
    r, s = decode_dss_signature(key.sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256())))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{header}.{payload}.{b64(raw)}", raw


def test_es256_signatures_become_der_and_others_stay_as_they_are(cli: Cli, tmp_path: Path) -> None:
    es256, raw = es256_token()
    rsa_signature, ed_signature = bytes(range(256)), bytes(range(64))
    files = {name: tmp_path / name for name in ("es256.der", "rs256.sig", "eddsa.sig")}

    results = cli.many(
        ["token", "signature", es256, "-o", str(files["es256.der"])],
        ["token", "signature", token("RS256", rsa_signature), "-o", str(files["rs256.sig"])],
        ["token", "signature", token("EdDSA", ed_signature), "-o", str(files["eddsa.sig"])],
    )

    for result in results:
        result.assert_ok()
    r, s = decode_dss_signature(files["es256.der"].read_bytes())
    assert r.to_bytes(32, "big") + s.to_bytes(32, "big") == raw
    assert files["rs256.sig"].read_bytes() == rsa_signature
    assert files["eddsa.sig"].read_bytes() == ed_signature


def test_the_token_may_come_on_standard_input(cli: Cli, tmp_path: Path) -> None:
    es256, raw = es256_token()
    out = tmp_path / "sig.der"

    cli("token", "signature", "-", "-o", str(out), stdin=es256 + "\n").assert_ok()

    r, s = decode_dss_signature(out.read_bytes())
    assert r.to_bytes(32, "big") + s.to_bytes(32, "big") == raw


def test_what_is_not_a_tollhouse_jws_fails_with_one_line(cli: Cli) -> None:
    cases = {
        "a.b": "not a compact JWS: 2 dot-separated parts",
        "!!.e30.AA": "not a compact JWS: the header",
        token("HS256", b"x" * 32): "alg 'HS256' is not one Tollhouse signs with",
        token("ES256", b"x" * 63): "an ES256 signature has 64 octets, this one 63",
    }

    results = cli.many(*(["token", "signature", value] for value in cases))

    for (value, message), result in zip(cases.items(), results, strict=True):
        result.assert_failure(message)
        assert result.stdout == "", value
