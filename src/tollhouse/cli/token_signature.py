"""``tollhouse token signature``: a JWT's signature in the form ``openssl`` reads.

A JWS signs ``BASE64URL(header) "." BASE64URL(payload)`` (RFC 7515 §5.1), which the
shell cuts out of the token as it is. The signature is the part it cannot hand to
``openssl dgst -verify`` as it stands: ES256 stores ECDSA's (r, s) as two 32-octet
integers side by side (RFC 7518 §3.4), and OpenSSL reads the DER ``Ecdsa-Sig-Value``
of RFC 3279 §2.2.3. RS256 (RFC 7518 §3.3) and EdDSA (RFC 8037 §3.1) signatures are
written unchanged; EdDSA is checked with ``openssl pkeyutl -verify -rawin``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tollhouse.cli.context import fail
from tollhouse.resource.jwk import b64decode

ES256_SIGNATURE_BYTES = 64


@click.command("signature")
@click.argument("jwt")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write it to this file (default: standard output, which must not be a terminal).",
)
def signature(jwt: str, output: Path | None) -> None:
    """Write JWT's signature as openssl reads it: DER for ES256, as is for RS256 and
    EdDSA. JWT may be - to read the token from standard input.

    \b
    printf %s "${TOKEN%.*}" > signing-input.txt
    tollhouse token signature "$TOKEN" > sig.der
    openssl dgst -sha256 -verify public.pem -signature sig.der signing-input.txt
    """
    token = sys.stdin.read().strip() if jwt == "-" else jwt.strip()
    data = openssl_signature(token)
    if output is not None:
        output.write_bytes(data)
        return
    if sys.stdout.isatty():
        fail("the signature is binary: redirect it (> sig.der) or pass -o FILE")
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def openssl_signature(token: str) -> bytes:
    """The signature of a compact JWS, DER-encoded for ES256, unchanged otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        fail(f"not a compact JWS: {len(parts)} dot-separated parts instead of 3")
    try:
        header = json.loads(_unb64(parts[0]))
        raw = _unb64(parts[2])
    except ValueError:
        fail("not a compact JWS: the header or the signature is not base64url JSON")
    alg = header.get("alg") if isinstance(header, dict) else None
    if alg in ("RS256", "EdDSA"):
        return raw
    if alg != "ES256":
        fail(f"alg {alg!r} is not one Tollhouse signs with (ES256, RS256, EdDSA)")
    if len(raw) != ES256_SIGNATURE_BYTES:
        fail(f"an ES256 signature has {ES256_SIGNATURE_BYTES} octets, this one {len(raw)}")
    half = ES256_SIGNATURE_BYTES // 2
    r, s = int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
    return encode_dss_signature(r, s)


def _unb64(segment: str) -> bytes:
    """The server's own decoder: a spelling it refuses is not explained as valid."""
    return b64decode(segment)
