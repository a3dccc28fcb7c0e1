"""RFC 7636 Proof Key for Code Exchange; only S256 (RFC 9700 §2.1.1)."""

from __future__ import annotations

import base64
import hashlib
import re

from tollhouse.errors import InvalidGrant, InvalidRequest
from tollhouse.randomness import equal

S256 = "S256"
SUPPORTED_METHODS = (S256,)
# RFC 7636 §4.1: code_verifier = 43*128unreserved
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# A base64url SHA-256 digest without padding is 43 characters.
_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")


def validate_challenge(challenge: str | None, method: str | None, *, required: bool) -> None:
    """Check the authorization request's PKCE parameters (RFC 7636 §4.3).

    RFC 9700 §2.1.1: public clients MUST use PKCE; "plain" is refused because it does
    not protect against an attacker who can read the authorization request.
    """
    if challenge is None:
        if method is not None:
            raise InvalidRequest("code_challenge_method was sent without code_challenge.")
        if required:
            raise InvalidRequest("code_challenge (PKCE, S256) is required for this client.")
        return
    if method is None:
        # RFC 7636 §4.3 defaults a missing method to "plain", which we refuse.
        raise InvalidRequest("code_challenge_method is required and must be S256.")
    if method not in SUPPORTED_METHODS:
        raise InvalidRequest("code_challenge_method must be S256; plain is not supported.")
    if not _CHALLENGE.fullmatch(challenge):
        raise InvalidRequest("code_challenge must be the base64url SHA-256 of the verifier.")


def challenge_for(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify(verifier: str | None, challenge: str | None) -> None:
    """RFC 7636 §4.6, plus RFC 9700 §2.1.1: a verifier without a challenge is refused."""
    if challenge is None:
        if verifier is not None:
            raise InvalidGrant("code_verifier was sent but the authorization used no PKCE.")
        return
    if verifier is None:
        raise InvalidGrant("code_verifier is required: the authorization used PKCE.")
    if not _VERIFIER.fullmatch(verifier):
        raise InvalidGrant("code_verifier must be 43-128 unreserved characters.")
    if not equal(challenge_for(verifier), challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge.")
