"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP) and recovery codes.

Codes are six digits from HMAC-SHA1 over 30-second steps, the parameters every
authenticator app assumes when an ``otpauth://`` URI names no others. A code is
accepted one step either side of now (RFC 6238 §5.2: clock drift and typing time);
which step matched is returned so the caller can refuse it a second time (§5.2: "the
verifier MUST NOT accept the second attempt of the same OTP").

Recovery codes are random, shown once and stored as SHA-256 digests: with 60 bits each
and attempts locked like passwords, a fast hash loses nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

STEP = 30
DIGITS = 6
DRIFT = 1
"""Steps accepted either side of the current one."""
SECRET_BYTES = 20
"""RFC 4226 §4 R6: at least 128 bits, 160 recommended (the HMAC-SHA1 block)."""
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 12
MAX_CODE_LENGTH = 32


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def base32(secret: bytes) -> str:
    """The secret as authenticator apps take it typed in: base32, no padding."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def code_at(secret: bytes, step: int) -> str:
    """RFC 4226 §5.3: HOTP with the time step as counter, dynamically truncated."""
    digest = hmac.new(secret, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def step_of(now: int) -> int:
    return now // STEP


def matching_step(secret: bytes, code: str, now: int) -> int | None:
    """The step ``code`` belongs to within the drift window, or None. Every candidate
    is compared (in constant time) so the answer's timing says nothing."""
    code = normalize(code)
    if len(code) != DIGITS or not code.isdigit():
        return None
    current = step_of(now)
    found: int | None = None
    for step in range(current - DRIFT, current + DRIFT + 1):
        if hmac.compare_digest(code_at(secret, step), code) and found is None:
            found = step
    return found


def provisioning_uri(secret: bytes, account: str, issuer: str) -> str:
    """The ``otpauth://totp/`` URI authenticator apps read from the QR code (the Key
    Uri Format of Google Authenticator, which the other apps follow)."""
    # The label is "issuer:account"; a colon inside either would split it wrongly.
    issuer = issuer.replace(":", "")
    label = quote(issuer, safe="") + ":" + quote(account.replace(":", ""), safe="@")
    query = urlencode(
        {
            "secret": base32(secret),
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP,
        }
    )
    return f"otpauth://totp/{label}?{query}"


def normalize(code: str) -> str:
    """What the user typed, without spaces and dashes, in lower case."""
    return code.replace(" ", "").replace("-", "").strip().lower()


def new_recovery_codes() -> list[str]:
    """Codes like ``abcd-efgh-jkmn``: no 0/o, 1/l/i to misread."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
    return codes


def recovery_digest(code: str) -> str:
    return hashlib.sha256(b"tollhouse-recovery:" + normalize(code).encode("utf-8")).hexdigest()


def looks_like_recovery_code(code: str) -> bool:
    plain = normalize(code)
    return len(plain) == _RECOVERY_LENGTH and all(c in _RECOVERY_ALPHABET for c in plain)
