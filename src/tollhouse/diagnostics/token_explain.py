"""Why an access token is or is not valid here: one check per rule, each with a reason.

The rules are RFC 9068 §4 (validating JWT access tokens) as this server applies them:
the signature with a published key whose ``alg`` matches (RFC 7515 §5.2; RFC 8725
§3.1 "MUST ... verify that the algorithm is one it accepts"), ``typ`` ``at+jwt``,
``exp``/``nbf``/``iat`` with a leeway (RFC 7519 §4.1.4), ``iss`` equal to this issuer,
``aud`` one of its APIs (or the issuer itself), and the revocation list. The token is
decoded without being trusted: nothing here takes a claim as true until the signature
check passed, and a failed signature makes the token invalid whatever the claims say.

Pure: the facts (keys, whether the signature verifies, records from the database) are
gathered by :mod:`tollhouse.diagnostics.inspect`. The signature is never shown.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypedDict, TypeGuard

from tollhouse.config import MAX_ACCESS_TOKEN_TTL
from tollhouse.keys.lifecycle import EXPIRED, PENDING, RETIRED, SIGNING, KeyPhase
from tollhouse.keys.ring import MAX_TOKEN_BYTES
from tollhouse.models import AccessTokenRecord, Api, Client, SigningKey, User
from tollhouse.protocol.redirect_hints import differences
from tollhouse.protocol.tokens import ACCESS_TOKEN_TYP

DEFAULT_LEEWAY = 30
"""Seconds, as :class:`tollhouse.resource.TokenValidator`'s default."""


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str


class CheckDict(TypedDict):
    name: str
    status: str
    detail: str


@dataclass(frozen=True, slots=True)
class Decoded:
    """Header and claims as sent: untrusted until the signature check passes."""

    header: dict[str, Any]
    claims: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TokenFacts:
    """What this server knows that bears on the token."""

    issuer: str
    now: int
    keys: Sequence[SigningKey]
    signature_verifies: bool
    """:meth:`tollhouse.keys.ring.KeyRing.verify_jwt` accepted the token."""
    apis: Sequence[Api] = ()
    revoked: bool = False
    record: AccessTokenRecord | None = None
    client: Client | None = None
    user: User | None = None
    leeway: int = DEFAULT_LEEWAY
    audience: str | None = None
    """Check against this audience instead of "any API of this server"."""
    phases: Mapping[str, KeyPhase] = field(default_factory=dict)
    """Each key's phase now (:func:`tollhouse.keys.lifecycle.phases`), by kid."""


@dataclass(frozen=True, slots=True)
class Explanation:
    valid: bool
    header: dict[str, Any] | None
    claims: dict[str, Any] | None
    checks: list[Check] = field(default_factory=list)

    @property
    def first_failure(self) -> Check | None:
        return next((c for c in self.checks if c.status is Status.FAIL), None)

    def to_dict(self) -> dict[str, Any]:
        checks: list[CheckDict] = [
            {"name": c.name, "status": str(c.status), "detail": c.detail} for c in self.checks
        ]
        return {
            "valid": self.valid,
            "header": self.header,
            "claims": self.claims,
            "checks": checks,
        }


def decode(token: str) -> Decoded | str:
    """Split a compact JWS (RFC 7515 §7.1) into header and claims, or say why not."""
    token = token.strip()
    if len(token) > MAX_TOKEN_BYTES:
        return f"the token is longer than {MAX_TOKEN_BYTES} bytes"
    segments = token.split(".")
    if len(segments) == 5:
        return "this is a JWE (five segments): Tollhouse access tokens are signed, not encrypted"
    if len(segments) != 3:
        return (
            f"a JWT has three dot-separated segments, this has {len(segments)} "
            "(an opaque refresh token or code? Those are not JWTs)"
        )
    parts: list[dict[str, Any]] = []
    for name, segment in (("header", segments[0]), ("claims", segments[1])):
        try:
            value = json.loads(_unb64(segment))
        except (ValueError, UnicodeError):
            return f"the {name} segment is not base64url-encoded JSON"
        if not isinstance(value, dict):
            return f"the {name} segment is JSON but not an object"
        parts.append(value)
    if not segments[2]:
        return "the signature segment is empty (an unsigned token is never accepted)"
    return Decoded(parts[0], parts[1])


def undecodable(reason: str) -> Explanation:
    return Explanation(False, None, None, [Check("format", Status.FAIL, reason)])


def explain(decoded: Decoded, facts: TokenFacts) -> Explanation:
    """Every check, in the order a resource server applies them."""
    header, claims = decoded.header, decoded.claims
    checks = [Check("format", Status.PASS, "compact JWS; header and claims are JSON objects")]
    checks.extend(_signature(header, facts))
    checks.append(_typ(header))
    checks.extend(_times(claims, facts))
    checks.append(_issuer(claims, facts.issuer))
    checks.append(_audience(claims, facts))
    checks.append(_revocation(claims, facts))
    checks.extend(_parties(claims, facts))
    valid = all(c.status is not Status.FAIL for c in checks)
    return Explanation(valid, header, claims, checks)


def _signature(header: dict[str, Any], facts: TokenFacts) -> list[Check]:
    alg, kid = header.get("alg"), header.get("kid")
    by_kid = {k.kid: k for k in facts.keys}
    key = by_kid.get(kid) if isinstance(kid, str) else None
    checks: list[Check] = []
    if kid is None:
        checks.append(
            Check("kid", Status.FAIL, "the header has no kid; this server always sets one")
        )
    elif key is None:
        known = ", ".join(kid for kid, v in facts.phases.items() if v.published)
        checks.append(
            Check(
                "kid",
                Status.FAIL,
                f"kid {kid!s} is not one of this server's keys (published: {known or 'none'}); "
                "the token comes from another issuer, another database, or a deleted key",
            )
        )
    else:
        checks.append(_key_phase(key, facts.phases.get(key.kid)))
    if not isinstance(alg, str) or alg.lower() == "none":
        checks.append(Check("alg", Status.FAIL, f"alg {alg!r} is never accepted (RFC 8725 §3.1)"))
    elif key is not None and alg != key.alg:
        checks.append(Check("alg", Status.FAIL, f"alg {alg} but key {key.kid} is an {key.alg} key"))
    elif key is not None:
        checks.append(Check("alg", Status.PASS, f"{alg}, as the key"))
    if "crit" in header:
        checks.append(
            Check("crit", Status.FAIL, "the header lists critical extensions; none is supported")
        )
    if facts.signature_verifies:
        checks.append(Check("signature", Status.PASS, f"verifies with key {kid}"))
    elif key is None or (isinstance(alg, str) and alg != key.alg):
        checks.append(Check("signature", Status.FAIL, "not verified: no matching key"))
    elif (view := facts.phases.get(key.kid)) is None or not view.published:
        checks.append(Check("signature", Status.FAIL, "not verified: the key is not published"))
    else:
        checks.append(
            Check(
                "signature",
                Status.FAIL,
                f"does not verify with key {kid}: the token was altered or truncated "
                "(copy it whole), or another server signed it",
            )
        )
    return checks


def _key_phase(key: SigningKey, view: KeyPhase | None) -> Check:
    phase = view.phase if view is not None else "unknown"
    if phase == SIGNING:
        return Check("kid", Status.PASS, f"key {key.kid} is signing (signs new tokens)")
    if phase == PENDING:
        return Check("kid", Status.PASS, f"key {key.kid} is pending (published, not signing yet)")
    if phase == RETIRED and view is not None:
        until = f" until {_iso(view.published_until)}" if view.published_until else ""
        return Check(
            "kid",
            Status.PASS,
            f"key {key.kid} is retired: it signs no more, and verifies{until}",
        )
    if phase == EXPIRED:
        return Check(
            "kid",
            Status.FAIL,
            f"key {key.kid} was retired and is no longer published: every token it signed "
            "has expired",
        )
    return Check("kid", Status.FAIL, f"key {key.kid} is {phase} and not published")


def _typ(header: dict[str, Any]) -> Check:
    typ = header.get("typ")
    if typ == ACCESS_TOKEN_TYP:
        return Check("typ", Status.PASS, f"{typ} (RFC 9068 access token)")
    hint = " (an ID token? Send the access token to APIs)" if typ in ("JWT", None) else ""
    return Check(
        "typ", Status.FAIL, f"typ is {typ!r}, not {ACCESS_TOKEN_TYP}: not an access token{hint}"
    )


def _times(claims: dict[str, Any], facts: TokenFacts) -> list[Check]:
    now, leeway = facts.now, facts.leeway
    checks: list[Check] = []
    exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
    if not _is_time(exp):
        checks.append(Check("exp", Status.FAIL, "exp is missing or not a NumericDate"))
    elif now >= exp + leeway:
        checks.append(
            Check(
                "exp",
                Status.FAIL,
                f"expired at {_iso(exp)} ({now - exp} s ago; leeway {leeway} s); the client "
                "must refresh or sign in again",
            )
        )
    elif now >= exp:
        checks.append(
            Check(
                "exp",
                Status.PASS,
                f"expired at {_iso(exp)} ({now - exp} s ago) but inside the {leeway} s leeway",
            )
        )
    else:
        checks.append(Check("exp", Status.PASS, f"expires at {_iso(exp)} (in {exp - now} s)"))
    if nbf is not None:
        if not _is_time(nbf):
            checks.append(Check("nbf", Status.FAIL, "nbf is not a NumericDate"))
        elif nbf > now + leeway:
            checks.append(
                Check(
                    "nbf",
                    Status.FAIL,
                    f"not valid before {_iso(nbf)} (in {nbf - now} s, beyond the {leeway} s "
                    "leeway): this machine's clock is behind the issuer's (tollhouse doctor)",
                )
            )
        else:
            checks.append(Check("nbf", Status.PASS, f"valid since {_iso(nbf)}"))
    if not _is_time(iat):
        checks.append(Check("iat", Status.FAIL, "iat is missing or not a NumericDate (RFC 9068)"))
    elif iat > now + leeway:
        checks.append(
            Check(
                "iat",
                Status.FAIL,
                f"issued {iat - now} s in the future ({_iso(iat)}): clock skew between the "
                "issuer and this machine (tollhouse doctor checks the clocks)",
            )
        )
    else:
        lifetime = f"; lifetime {exp - iat} s" if _is_time(exp) else ""
        long = _is_time(exp) and exp - iat > MAX_ACCESS_TOKEN_TTL
        status = Status.FAIL if long else Status.PASS
        note = f" exceeds the {MAX_ACCESS_TOKEN_TTL} s this server ever issues" if long else ""
        checks.append(Check("iat", status, f"issued at {_iso(iat)}{lifetime}{note}"))
    return checks


def _issuer(claims: dict[str, Any], issuer: str) -> Check:
    iss = claims.get("iss")
    if iss == issuer:
        return Check("iss", Status.PASS, f"{issuer}, this server")
    if not isinstance(iss, str):
        return Check("iss", Status.FAIL, "iss is missing or not a string")
    named = differences(iss, issuer, ("in the token", "here"))
    why = f" ({'; '.join(named)})" if named else ""
    return Check(
        "iss",
        Status.FAIL,
        f"issued by {iss}, but this server is {issuer}{why}; check --issuer / "
        "TOLLHOUSE_ISSUER on both sides",
    )


def _audience(claims: dict[str, Any], facts: TokenFacts) -> Check:
    aud = claims.get("aud")
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else None
    if not values or not all(isinstance(v, str) for v in values):
        return Check("aud", Status.FAIL, "aud is missing or not a string (RFC 9068 §2.2)")
    if facts.audience is not None:
        if facts.audience in values:
            return Check("aud", Status.PASS, f"includes {facts.audience}")
        return Check(
            "aud",
            Status.FAIL,
            f"aud is {', '.join(values)}, not {facts.audience}: the client asked for another "
            "API (resource parameter or scopes of another API)",
        )
    apis = {api.identifier: api for api in facts.apis}
    unknown = [v for v in values if v != facts.issuer and v not in apis]
    if unknown:
        return Check(
            "aud",
            Status.FAIL,
            f"aud {', '.join(unknown)} is not an API of this server (tollhouse apis list)",
        )
    described = [
        f"{v} (the issuer itself: good for /userinfo only)"
        if v == facts.issuer
        else f"{v} (API{' ' + repr(apis[v].name) if apis[v].name else ''})"
        for v in values
    ]
    return Check("aud", Status.PASS, ", ".join(described))


def _revocation(claims: dict[str, Any], facts: TokenFacts) -> Check:
    jti = claims.get("jti")
    if not isinstance(jti, str):
        return Check("revoked", Status.FAIL, "no jti: it cannot be checked for revocation")
    if facts.revoked:
        return Check(
            "revoked",
            Status.FAIL,
            f"jti {jti} is on the revocation list (tollhouse tokens revoke, /revoke, a "
            "refresh token replay, or a reused code)",
        )
    return Check("revoked", Status.PASS, f"jti {jti} is not on the revocation list")


def _parties(claims: dict[str, Any], facts: TokenFacts) -> list[Check]:
    checks: list[Check] = []
    client_id, sub = claims.get("client_id"), claims.get("sub")
    if facts.client is not None:
        checks.append(
            Check("client", Status.INFO, f"{facts.client.client_id} ({facts.client.name})")
        )
    elif isinstance(client_id, str):
        checks.append(Check("client", Status.INFO, f"{client_id}: no such client here (deleted?)"))
    if isinstance(sub, str) and sub == client_id:
        checks.append(Check("subject", Status.INFO, "the client itself (client_credentials)"))
    elif facts.user is not None:
        checks.append(Check("subject", Status.INFO, f"user {facts.user.username} ({sub})"))
    elif isinstance(sub, str):
        checks.append(Check("subject", Status.INFO, f"{sub}: no such user here (deleted?)"))
    if isinstance(claims.get("scope"), str):
        checks.append(Check("scope", Status.INFO, str(claims["scope"])))
    if facts.record is not None:
        checks.append(
            Check(
                "issued",
                Status.INFO,
                f"recorded at {_iso(facts.record.issued_at)} for client {facts.record.client_id}",
            )
        )
    elif isinstance(claims.get("jti"), str):
        checks.append(
            Check(
                "issued",
                Status.INFO,
                "no issuance record for this jti (purged after expiry, or minted elsewhere)",
            )
        )
    return checks


def _is_time(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _iso(timestamp: int) -> str:
    try:
        return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(timestamp)


def _unb64(segment: str) -> bytes:
    if not segment or "=" in segment:
        raise ValueError("not base64url without padding")
    return base64.urlsafe_b64decode(segment.encode("ascii") + b"=" * (-len(segment) % 4))
