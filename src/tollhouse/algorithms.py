"""The JWS algorithms Tollhouse signs and verifies, and the RSA key sizes of RS256.

Each is defined here once and imported wherever it is needed: the settings
(``TOLLHOUSE_SIGNING_ALG``, ``TOLLHOUSE_RSA_KEY_BITS``), the signing keys, discovery,
client registration metadata, the CLI's choices, and the resource library's
allow-list. This is a leaf module (it imports nothing of Tollhouse) for one reason:
``tollhouse.resource`` must stay usable alone, importing only the other leaves
(``errors``, ``clock``, ``hosts``), and the identity provider must not depend on the
resource library for its settings. A leaf both may import keeps one list without
bending either rule.

Algorithms: ES256 (RFC 7518 §3.4), RS256 (RFC 7518 §3.3) and EdDSA over Ed25519
(RFC 8037 §3.1). ``none`` and the HMAC algorithms are never accepted.

RSA moduli: 2048 bits (112-bit security) is RFC 7518 §3.3's minimum for RS256,
FAPI 2.0's minimum, and acceptable to NIST SP 800-57 Part 1 for keys used through 2030.
A signing key lives 90 days by default (``TOLLHOUSE_KEY_ROTATION_DAYS``) and the ID
Tokens it signs ten minutes. Operators bound by BSI TR-02102-1 (at least 3000 bits),
or keeping keys in use past 2030, choose 3072 or 4096; a longer modulus makes every
RS256 signature slower (bench/RESULTS.md and docs/adr/0008-hot-path.md measure it).
"""

from __future__ import annotations

from typing import Final, Literal, get_args

SigningAlg = Literal["ES256", "RS256", "EdDSA"]
"""The type of a supported alg, for settings that must name one (pydantic, mypy)."""

SIGNING_ALGS: Final[tuple[SigningAlg, ...]] = get_args(SigningAlg)
"""Every supported alg, in the order discovery lists them (the default first)."""

CLIENT_ALGS: Final = ("ES256", "EdDSA", "PS256", "RS256")
"""What clients may sign their assertions (RFC 7523) and request objects (RFC 9101)
with: the server's algorithms and RSASSA-PSS (RFC 7518 §3.5), which FAPI 2.0 asks for."""
FAPI2_CLIENT_ALGS: Final = ("ES256", "EdDSA", "PS256")
"""FAPI 2.0 Security Profile §5.4.1: PS256, ES256 or EdDSA; never RSASSA-PKCS1-v1_5."""

RSA_KEY_SIZES: Final = (2048, 3072, 4096)
DEFAULT_RSA_KEY_BITS: Final = 2048


def checked_rsa_bits(bits: int) -> int:
    """``bits`` if it is one of :data:`RSA_KEY_SIZES`, else ``ValueError``."""
    if bits not in RSA_KEY_SIZES:
        sizes = ", ".join(map(str, RSA_KEY_SIZES))
        raise ValueError(f"unsupported RSA key size {bits}; choose one of {sizes}")
    return bits
