"""DPoP proofs (RFC 9449 §4.2) made as a client makes them, with ``cryptography``; and
the crafted ones an attacker sends (``alg: none``, HS256, a private key in the JWK)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int(value: int) -> str:
    return b64(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


def _generate(alg: str) -> PrivateKey:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class ProofKey:
    """A client's DPoP key pair."""

    alg: str = "ES256"
    key: PrivateKey = field(init=False)

    def __post_init__(self) -> None:
        self.key = _generate(self.alg)

    @property
    def jwk(self) -> dict[str, str]:
        key = self.key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            numbers = key.public_key().public_numbers()
            x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
            return {"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)}
        if isinstance(key, ed25519.Ed25519PrivateKey):
            raw = key.public_key().public_bytes_raw()
            return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
        public = key.public_key().public_numbers()
        return {"kty": "RSA", "n": _int(public.n), "e": _int(public.e)}

    @property
    def private_jwk(self) -> dict[str, str]:
        """The JWK with its private member, as a careless client might embed it."""
        assert isinstance(self.key, ec.EllipticCurvePrivateKey)
        d = self.key.private_numbers().private_value.to_bytes(32, "big")
        return {**self.jwk, "d": b64(d)}

    @property
    def jkt(self) -> str:
        """RFC 7638 §3 thumbprint."""
        jwk = self.jwk
        names = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}.get(
            jwk["kty"], ("crv", "kty", "x")
        )
        members = json.dumps({n: jwk[n] for n in names}, sort_keys=True, separators=(",", ":"))
        return b64(hashlib.sha256(members.encode()).digest())

    def sign(self, signing_input: bytes, alg: str) -> bytes:
        key = self.key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(signing_input)
        if alg == "PS256":
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            return key.sign(signing_input, pss, hashes.SHA256())
        return key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())

    def proof(
        self,
        method: str,
        url: str,
        *,
        nonce: str | None = None,
        access_token: str | None = None,
        iat: float | None = None,
        jti: str | None = None,
        header: dict[str, Any] | None = None,
        claims: dict[str, Any] | None = None,
        signer: ProofKey | None = None,
    ) -> str:
        """A proof for ``method`` ``url``; ``header``/``claims`` override members, and
        ``signer`` signs with another key than the one embedded."""
        head: dict[str, Any] = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.jwk}
        head.update(header or {})
        body: dict[str, Any] = {
            "jti": jti or secrets.token_urlsafe(16),
            "htm": method,
            "htu": url,
            "iat": int(time.time()) if iat is None else iat,
        }
        if nonce is not None:
            body["nonce"] = nonce
        if access_token is not None:
            body["ath"] = b64(hashlib.sha256(access_token.encode()).digest())
        body.update(claims or {})
        signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(body).encode())}"
        alg = head["alg"]
        if alg == "none":
            return signing_input + "."
        if alg == "HS256":
            mac = hmac.new(b"secret", signing_input.encode(), hashlib.sha256).digest()
            return f"{signing_input}.{b64(mac)}"
        signature = (signer or self).sign(signing_input.encode(), alg)
        return f"{signing_input}.{b64(signature)}"
