"""Key material: generate a signing key, seal its private JWK, and open it to sign.

:func:`generate` is the one place a key comes into being (the ring's first key, a
rotation by a server or by ``tollhouse keys rotate`` all reach it through
:func:`tollhouse.keys.rotation.add_next_key`). A key's ``kid`` is its RFC 7638 §3 JWK
thumbprint; the private JWK is sealed with the master key (AES-256-GCM, AAD = kid)
before it reaches the store, and :func:`unseal` checks on the way back that the
private key, the kid and the published public JWK all belong together.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jwk

from tollhouse.algorithms import DEFAULT_RSA_KEY_BITS, SIGNING_ALGS, checked_rsa_bits
from tollhouse.errors import ConfigError
from tollhouse.models import SigningKey
from tollhouse.security.secretbox import DecryptionError, SecretBox

Sign = Callable[[bytes], bytes]
"""``sign(signing_input) -> JWS signature`` (RFC 7518 §3.3/§3.4, RFC 8037 §3.1)."""

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


def checked_alg(alg: str) -> str:
    """``alg`` if Tollhouse signs with it, else ``ConfigError`` naming the choices."""
    if alg not in SIGNING_ALGS:
        supported = ", ".join(SIGNING_ALGS)
        raise ConfigError(f"unsupported signing alg {alg!r}; choose one of {supported}")
    return alg


def generate(
    alg: str,
    box: SecretBox,
    now: int,
    *,
    activates_at: int | None = None,
    generation: int | None = None,
    rsa_bits: int = DEFAULT_RSA_KEY_BITS,
) -> SigningKey:
    """A fresh key for ``alg``: kid = RFC 7638 §3 thumbprint, private JWK sealed by ``box``.

    ``activates_at`` delays signing (it is published at once); ``generation`` is its
    rotation number within ``alg``; ``rsa_bits`` the modulus of an RS256 key."""
    key = _new_key(checked_alg(alg), rsa_bits)
    kid = key.thumbprint()
    extra = {"kid": kid, "alg": alg, "use": "sig"}
    public = {"kty": key.key_type, **key.as_dict(private=False), **extra}
    private = {"kty": key.key_type, **key.as_dict(private=True), **extra}
    ciphertext = box.seal(orjson.dumps(private), aad=kid.encode("utf-8"))
    return SigningKey(
        kid=kid,
        alg=alg,
        public_jwk=public,
        private_ciphertext=ciphertext,
        created_at=now,
        activates_at=activates_at,
        generation=generation,
    )


def _new_key(alg: str, rsa_bits: int) -> jwk.Key:
    if alg == "ES256":
        return jwk.ECKey.generate_key("P-256")
    if alg == "RS256":
        try:
            bits = checked_rsa_bits(rsa_bits)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return jwk.RSAKey.generate_key(bits)
    return jwk.OKPKey.generate_key("Ed25519")


def unseal(record: SigningKey, box: SecretBox) -> Sign:
    """Open the private key of ``record`` with ``box`` and return its signer.

    Raises ``ConfigError`` naming the kid if the alg is unsupported, the master key
    does not open it, or the private key, kid and public JWK do not belong together.
    """
    kid = record.kid
    if record.alg not in SIGNING_ALGS:
        raise ConfigError(f"signing key {kid} has unsupported alg {record.alg!r}")
    try:
        plaintext = box.open(record.private_ciphertext, aad=kid.encode("utf-8"))
    except DecryptionError:
        raise ConfigError(f"signing key {kid} cannot be decrypted with this master key") from None
    key = _parsed(record, plaintext)
    try:
        return raw_signer(record.alg, key.get_op_key("sign"))
    except (ConfigError, ValueError) as exc:
        raise ConfigError(f"signing key {kid} does not suit {record.alg}: {exc}") from None


def _parsed(record: SigningKey, plaintext: bytes) -> jwk.Key:
    """The private JWK, checked against the record's kid and public JWK."""
    kid = record.kid
    try:
        key = jwk.import_key(_json_object(plaintext))
        public_kid = jwk.import_key(record.public_jwk).thumbprint()
    except Exception as exc:
        raise ConfigError(f"signing key {kid} is corrupt: {type(exc).__name__}") from None
    if not key.is_private or key.thumbprint() != kid or public_kid != kid:
        raise ConfigError(f"signing key {kid} does not match its kid or public JWK")
    return key


def _json_object(plaintext: bytes) -> dict[str, Any]:
    value = json.loads(plaintext)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def raw_signer(alg: str, private_key: object) -> Sign:
    """Sign with the ``cryptography`` key directly: no key lookup or algorithm object
    per call (joserfc's ``sign`` derives both again on every call)."""
    if alg == "ES256" and isinstance(private_key, ec.EllipticCurvePrivateKey):
        sign_der = private_key.sign

        def es256(data: bytes) -> bytes:
            # RFC 7518 §3.4: R || S, 32 octets each, instead of DER.
            r, s = decode_dss_signature(sign_der(data, _ECDSA_SHA256))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

        return es256
    if alg == "RS256" and isinstance(private_key, rsa.RSAPrivateKey):
        sign_rsa = private_key.sign
        return lambda data: sign_rsa(data, _PKCS1V15, _SHA256)
    if alg == "EdDSA" and isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign
    raise ConfigError(f"the key does not suit {alg}")
