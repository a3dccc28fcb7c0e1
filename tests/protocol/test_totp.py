"""RFC 6238 codes: the RFC's own test vectors (Appendix B, SHA-1), the drift window,
recovery codes."""

from __future__ import annotations

import pyotp
import pytest

from tollhouse.protocol import totp

RFC_SECRET = b"12345678901234567890"


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_rfc_6238_appendix_b_vectors(now: int, expected: str) -> None:
    # The vectors are 8 digits; ours are the last 6 of the same truncated value.
    assert totp.code_at(RFC_SECRET, totp.step_of(now)) == expected[-6:]


def test_codes_agree_with_an_independent_implementation() -> None:
    secret = totp.new_secret()
    reference = pyotp.TOTP(totp.base32(secret))
    for now in (0, 1_700_000_000, 1_765_000_015):
        assert totp.code_at(secret, totp.step_of(now)) == reference.at(now)


def test_one_step_either_side_is_accepted_and_no_more() -> None:
    secret = totp.new_secret()
    now = 1_765_000_000
    step = totp.step_of(now)
    for offset in (-1, 0, 1):
        code = totp.code_at(secret, step + offset)
        assert totp.matching_step(secret, code, now) == step + offset
    for offset in (-2, 2):
        code = totp.code_at(secret, step + offset)
        found = totp.matching_step(secret, code, now)
        assert found is None or abs(found - step) <= 1  # a chance collision only


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_malformed_codes_are_refused(typed: str) -> None:
    assert totp.matching_step(totp.new_secret(), typed, 1_765_000_000) is None


def test_the_uri_names_issuer_account_and_parameters() -> None:
    uri = totp.provisioning_uri(RFC_SECRET, "alice", "idp.example")
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.secret == totp.base32(RFC_SECRET)
    assert parsed.name == "alice" and parsed.issuer == "idp.example"
    assert parsed.digits == 6 and parsed.interval == 30


def test_recovery_codes_are_distinct_readable_and_digested_loosely() -> None:
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        assert totp.looks_like_recovery_code(code)
        assert totp.recovery_digest(code) == totp.recovery_digest(code.upper().replace("-", " "))
    assert not totp.looks_like_recovery_code("123456")
