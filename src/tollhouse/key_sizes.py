"""The RSA modulus of new RS256 signing keys (``TOLLHOUSE_RSA_KEY_BITS``).

2048 bits (112-bit security) is RFC 7518 §3.3's minimum for RS256, FAPI 2.0's minimum,
and acceptable to NIST SP 800-57 Part 1 for keys used through 2030; it is what
Keycloak, Okta, Auth0 and Google sign ID Tokens with. A signing key lives 90 days by
default (``TOLLHOUSE_KEY_ROTATION_DAYS``) and the ID Tokens it signs ten minutes.

Operators bound by BSI TR-02102-1 (at least 3000 bits since 2024), or keeping keys in
use past 2030, choose 3072 or 4096. That is a real cost: an RSA-3072 signature takes
about three times as long as an RSA-2048 one (0.82 ms against 0.29 ms on the benchmark
machine), and RS256 is the ID Token alg of every client that names none, so it bounds
what one core answers of code exchanges (docs/adr/0008-hot-path.md, "Eighth round").
"""

from __future__ import annotations

RSA_KEY_SIZES = (2048, 3072, 4096)
DEFAULT_RSA_KEY_BITS = 2048


def checked_rsa_bits(bits: int) -> int:
    """``bits`` if it is one of :data:`RSA_KEY_SIZES`, else ``ValueError``."""
    if bits not in RSA_KEY_SIZES:
        sizes = ", ".join(map(str, RSA_KEY_SIZES))
        raise ValueError(f"unsupported RSA key size {bits}; choose one of {sizes}")
    return bits
