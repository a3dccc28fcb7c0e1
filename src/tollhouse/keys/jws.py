"""RFC 7515 compact JWS as the key ring writes it: prepared headers, base64url, JSON."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import orjson

from tollhouse.keys.material import Sign
from tollhouse.models import SigningKey

MAX_TYP_HEADERS = 16
"""Encoded headers one key keeps, one per ``typ`` (a handful are in use)."""


@dataclass(slots=True)
class Signer:
    """One decrypted signing (or pending) key, with everything a signature needs."""

    record: SigningKey
    sign: Sign
    headers: dict[str, bytes] = field(default_factory=dict)
    """Encoded protected header (with trailing dot) per ``typ``."""

    def header(self, typ: str) -> bytes:
        """RFC 7515 §7.1's first segment and its dot, for ``{"alg", "typ", "kid"}``."""
        segment = self.headers.get(typ)
        if segment is None:
            value = {"alg": self.record.alg, "typ": typ, "kid": self.record.kid}
            segment = b64url(to_json(value)) + b"."
            if len(self.headers) < MAX_TYP_HEADERS:
                self.headers[typ] = segment
        return segment

    def signing_input(self, claims: dict[str, Any], typ: str) -> bytes:
        """RFC 7515 §5.1's ``header.payload``, the bytes the signature covers."""
        return self.header(typ) + b64url(to_json(claims))


def compact(signing_input: bytes, signature: bytes) -> str:
    """RFC 7515 §7.1 compact serialization."""
    return (signing_input + b"." + b64url(signature)).decode("ascii")


def to_json(value: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON (orjson: claims are encoded on every token)."""
    return orjson.dumps(value)


def b64url(data: bytes) -> bytes:
    """RFC 7515 §2 base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=")
