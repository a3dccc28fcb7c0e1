from __future__ import annotations

import pytest

from tollhouse.errors import InvalidGrant, InvalidRequest
from tollhouse.protocol import pkce

# RFC 7636 Appendix B
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_rfc7636_appendix_b_vector() -> None:
    assert pkce.challenge_for(VERIFIER) == CHALLENGE
    pkce.verify(VERIFIER, CHALLENGE)


def test_wrong_verifier_is_invalid_grant() -> None:
    with pytest.raises(InvalidGrant):
        pkce.verify("x" * 43, CHALLENGE)


def test_plain_method_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="S256"):
        pkce.validate_challenge(VERIFIER, "plain", required=False)


def test_missing_method_defaults_to_plain_and_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        pkce.validate_challenge(CHALLENGE, None, required=False)


def test_public_client_must_send_a_challenge() -> None:
    with pytest.raises(InvalidRequest, match="required"):
        pkce.validate_challenge(None, None, required=True)


def test_method_without_challenge_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        pkce.validate_challenge(None, "S256", required=False)


@pytest.mark.parametrize(
    "challenge",
    [
        "short",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c=",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cMX",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\n",
    ],
)
def test_malformed_challenge_is_refused(challenge: str) -> None:
    with pytest.raises(InvalidRequest):
        pkce.validate_challenge(challenge, "S256", required=False)


def test_verifier_without_challenge_is_refused_against_downgrade() -> None:
    """RFC 9700 §2.1.1: a code_verifier for a code issued without PKCE is rejected."""
    with pytest.raises(InvalidGrant):
        pkce.verify(VERIFIER, None)


def test_missing_verifier_when_challenge_was_sent() -> None:
    with pytest.raises(InvalidGrant):
        pkce.verify(None, CHALLENGE)


@pytest.mark.parametrize("verifier", ["a" * 42, "a" * 129, "a" * 42 + "!", "a" * 43 + "\n"])
def test_verifier_syntax_is_checked(verifier: str) -> None:
    with pytest.raises(InvalidGrant):
        pkce.verify(verifier, pkce.challenge_for(verifier))
