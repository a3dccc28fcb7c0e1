"""Why an access token is or is not valid here: each rule of the validation core, its
verdict explained and the fix named.

No verdict is restated here: each comes from a rule of :mod:`tollhouse.resource.at_jwt`,
the rules resource servers and this server's introspection apply (RFC 9068 §4), or from
the revocation list. Each rule runs on its own, so a token shows every rule it breaks,
in the order the validator applies them; the first is the one a resource server names.
Nothing is taken as true before the signature verified. Pure: the facts are gathered by
:mod:`tollhouse.diagnostics.inspect`. The signature is never shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypedDict

from tollhouse.config import MAX_ACCESS_TOKEN_TTL
from tollhouse.keys.lifecycle import EXPIRED, PENDING, RETIRED, SIGNING, KeyPhase
from tollhouse.models import AccessTokenRecord, Api, Client, User
from tollhouse.protocol.redirect_hints import differences
from tollhouse.resource import at_jwt
from tollhouse.resource.at_jwt import DEFAULT_LEEWAY, MAX_TOKEN_BYTES, Rule, is_numeric_date
from tollhouse.resource.errors import TokenError
from tollhouse.resource.jwk import VerifyKey
from tollhouse.resource.keyset import KeySet


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
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class TokenFacts:
    """What this server knows that bears on the token."""

    issuer: str
    now: int
    published: KeySet
    """The keys this server publishes now: the only ones a token may verify with."""
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
        return {"valid": self.valid, "header": self.header, "claims": self.claims, "checks": checks}


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
    try:
        header = at_jwt.header_of(segments[0])
        claims = at_jwt.payload_of(segments[1])
    except TokenError as failure:
        return failure.description
    return Decoded(header, claims, token)


def undecodable(reason: str) -> Explanation:
    return Explanation(False, None, None, [Check(Rule.FORMAT, Status.FAIL, reason)])


def explain(decoded: Decoded, facts: TokenFacts) -> Explanation:
    """Every check, in the order the validation core applies them."""
    header, claims = decoded.header, decoded.claims
    checks = [Check(Rule.FORMAT, Status.PASS, "compact JWS; header and claims are JSON objects")]
    checks.extend(_header_and_key(decoded, facts))
    checks.append(_issuer(claims, facts.issuer))
    checks.append(_audience(claims, facts))
    checks.extend(_times(claims, facts))
    checks.append(_required(claims))
    checks.extend(_revocation(claims, facts))
    checks.extend(_parties(claims, facts))
    valid = all(c.status is not Status.FAIL for c in checks)
    return Explanation(valid, header, claims, checks)


def _verdict(rule: Callable[..., object], *args: Any) -> TokenError | None:
    """The failure a core rule raises on ``args``, or None if it passes."""
    try:
        rule(*args)
    except TokenError as failure:
        return failure
    return None


def _passes(rule: Callable[..., object], *args: Any) -> bool:
    return _verdict(rule, *args) is None


def _header_and_key(decoded: Decoded, facts: TokenFacts) -> list[Check]:
    """alg, typ, crit, kid and the signature (RFC 9068 §4 steps 1-2, RFC 7515 §5.2)."""
    header = decoded.header
    alg, kid = header.get("alg"), header.get("kid")
    key = facts.published.keys.get(kid) if isinstance(kid, str) else None
    bad_alg = _verdict(at_jwt.check_alg, header, facts.published.algorithms)
    bad_kid = _verdict(at_jwt.check_kid, header)
    bad_key = None if bad_kid else _verdict(at_jwt.check_key, key, alg)
    mismatch = bad_key is not None and bad_key.check == Rule.ALG
    checks = [_alg(alg, key, bad_alg is not None, mismatch), _typ(header)]
    if (crit := _verdict(at_jwt.check_crit, header)) is not None:
        checks.append(Check(Rule.CRIT, Status.FAIL, f"{crit.description} None is supported."))
    if bad_kid is not None:
        checks.append(Check(Rule.KID, Status.FAIL, "the header has no kid; this server sets one"))
    else:
        checks.append(_kid(str(kid), facts, bad_key if key is None else None))
    checks.append(_signature(decoded, facts, None if bad_alg or bad_kid or bad_key else key))
    return checks


def _alg(alg: object, key: VerifyKey | None, unaccepted: bool, mismatch: bool) -> Check:
    if unaccepted:
        return Check(Rule.ALG, Status.FAIL, f"alg {alg!r} is never accepted (RFC 8725 §3.1)")
    if mismatch and key is not None:
        return Check(Rule.ALG, Status.FAIL, f"alg {alg} but key {key.kid} is an {key.alg} key")
    return Check(Rule.ALG, Status.PASS, f"{alg}, as the key" if key else str(alg))


def _typ(header: dict[str, Any]) -> Check:
    typ = header.get("typ")
    if _passes(at_jwt.check_typ, header):
        return Check(Rule.TYP, Status.PASS, f"{typ} (RFC 9068 access token)")
    hint = " (an ID token? Send the access token to APIs)" if typ in ("JWT", None) else ""
    return Check(Rule.TYP, Status.FAIL, f"typ is {typ!r}, not at+jwt: not an access token{hint}")


def _kid(kid: str, facts: TokenFacts, failure: TokenError | None) -> Check:
    view = facts.phases.get(kid)
    if view is not None:
        return _key_phase(view, Status.FAIL if failure else Status.PASS)
    published = ", ".join(facts.published.keys) or "none"
    return Check(
        Rule.KID,
        Status.FAIL,
        f"kid {kid} is not one of this server's keys (published: {published}); "
        "the token comes from another issuer, another database, or a deleted key",
    )


def _key_phase(view: KeyPhase, status: Status) -> Check:
    kid, phase = view.key.kid, view.phase
    if phase == SIGNING:
        return Check(Rule.KID, status, f"key {kid} is signing (signs new tokens)")
    if phase == PENDING:
        return Check(Rule.KID, status, f"key {kid} is pending (published, not signing yet)")
    if phase == RETIRED:
        until = f" until {_iso(view.published_until)}" if view.published_until else ""
        detail = f"key {kid} is retired: it signs no more, and verifies{until}"
        return Check(Rule.KID, status, detail)
    if phase == EXPIRED:
        detail = f"key {kid} was retired and is no longer published: every token it signed "
        return Check(Rule.KID, status, detail + "has expired")
    return Check(Rule.KID, status, f"key {kid} is {phase} and not published")


def _signature(decoded: Decoded, facts: TokenFacts, key: VerifyKey | None) -> Check:
    """``key``: the published key the header names, if the header and key rules passed."""
    kid = decoded.header.get("kid")
    if decoded.token.endswith("."):
        return Check(Rule.SIGNATURE, Status.FAIL, "none: an unsigned token is never accepted")
    if key is None:
        unpublished = (
            isinstance(kid, str) and kid in facts.phases and kid not in facts.published.keys
        )
        why = "the key is not published" if unpublished else "no matching key"
        return Check(Rule.SIGNATURE, Status.FAIL, f"not verified: {why}")
    token = decoded.token
    if _passes(at_jwt.check_signature, token, token.rfind("."), key):
        return Check(Rule.SIGNATURE, Status.PASS, f"verifies with key {kid}")
    return Check(
        Rule.SIGNATURE,
        Status.FAIL,
        f"does not verify with key {kid}: the token was altered or truncated "
        "(copy it whole), or another server signed it",
    )


def _issuer(claims: dict[str, Any], issuer: str) -> Check:
    iss = claims.get("iss")
    if _passes(at_jwt.check_iss, claims, issuer):
        return Check(Rule.ISS, Status.PASS, f"{issuer}, this server")
    if not isinstance(iss, str):
        return Check(Rule.ISS, Status.FAIL, "iss is missing or not a string")
    named = differences(iss, issuer, ("in the token", "here"))
    why = f" ({'; '.join(named)})" if named else ""
    return Check(
        Rule.ISS,
        Status.FAIL,
        f"issued by {iss}, but this server is {issuer}{why}; check --issuer / "
        "TOLLHOUSE_ISSUER on both sides",
    )


def _audience(claims: dict[str, Any], facts: TokenFacts) -> Check:
    """Against ``--audience``, else against every API here and the issuer itself."""
    apis = {api.identifier: api for api in facts.apis}
    accepted = {facts.audience} if facts.audience else {facts.issuer, *apis}
    aud = claims.get("aud")
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if _passes(at_jwt.check_aud, claims, accepted):
        return Check(
            Rule.AUD, Status.PASS, ", ".join(_described(v, facts.issuer, apis) for v in values)
        )
    if not values or not all(isinstance(v, str) for v in values):
        return Check(Rule.AUD, Status.FAIL, "aud is missing or not a string (RFC 9068 §2.2)")
    listed = ", ".join(values)
    if facts.audience:
        return Check(
            Rule.AUD,
            Status.FAIL,
            f"aud is {listed}, not {facts.audience}: the client asked for another "
            "API (resource parameter or scopes of another API)",
        )
    why = "is not an API of this server (tollhouse apis list)"
    return Check(Rule.AUD, Status.FAIL, f"aud {listed} {why}")


def _described(value: str, issuer: str, apis: Mapping[str, Api]) -> str:
    if value == issuer:
        return f"{value} (the issuer itself: good for /userinfo only)"
    api = apis.get(value)
    if api is None:
        return f"{value} (not an API here)"
    return f"{value} (API{' ' + repr(api.name) if api.name else ''})"


def _times(claims: dict[str, Any], facts: TokenFacts) -> list[Check]:
    now, leeway = facts.now, facts.leeway
    checks = [_exp(claims.get("exp"), _passes(at_jwt.check_exp, claims, now, leeway), facts)]
    if "nbf" in claims:
        ok = _passes(at_jwt.check_nbf, claims, now, leeway)
        checks.append(_nbf(claims["nbf"], ok, facts))
    checks.append(_iat(claims, _passes(at_jwt.check_iat, claims, now, leeway), facts))
    return checks


def _exp(exp: Any, ok: bool, facts: TokenFacts) -> Check:
    now, leeway = facts.now, facts.leeway
    if not is_numeric_date(exp):
        return Check(Rule.EXP, Status.FAIL, "exp is missing or not a NumericDate")
    if not ok:
        return Check(
            Rule.EXP,
            Status.FAIL,
            f"expired at {_iso(exp)} ({now - exp:.0f} s ago; leeway {leeway} s); the client "
            "must refresh or sign in again",
        )
    if now >= exp:
        detail = f"expired at {_iso(exp)} ({now - exp:.0f} s ago) but inside the {leeway} s leeway"
        return Check(Rule.EXP, Status.PASS, detail)
    return Check(Rule.EXP, Status.PASS, f"expires at {_iso(exp)} (in {exp - now:.0f} s)")


def _nbf(nbf: Any, ok: bool, facts: TokenFacts) -> Check:
    if not is_numeric_date(nbf):
        return Check(Rule.NBF, Status.FAIL, "nbf is not a NumericDate")
    if ok:
        return Check(Rule.NBF, Status.PASS, f"valid since {_iso(nbf)}")
    return Check(
        Rule.NBF,
        Status.FAIL,
        f"not valid before {_iso(nbf)} (in {nbf - facts.now:.0f} s, beyond the {facts.leeway} s "
        "leeway): this machine's clock is behind the issuer's (tollhouse doctor)",
    )


def _iat(claims: dict[str, Any], ok: bool, facts: TokenFacts) -> Check:
    iat, exp = claims.get("iat"), claims.get("exp")
    if not is_numeric_date(iat):
        return Check(Rule.IAT, Status.FAIL, "iat is missing or not a NumericDate (RFC 9068)")
    if not ok:
        return Check(
            Rule.IAT,
            Status.FAIL,
            f"issued {iat - facts.now:.0f} s in the future ({_iso(iat)}): clock skew between "
            "the issuer and this machine (tollhouse doctor checks the clocks)",
        )
    detail = f"issued at {_iso(iat)}"
    if is_numeric_date(exp):
        detail += f"; lifetime {exp - iat:.0f} s"
        if exp - iat > MAX_ACCESS_TOKEN_TTL:
            detail += f", longer than the {MAX_ACCESS_TOKEN_TTL} s this server issues"
    return Check(Rule.IAT, Status.PASS, detail)


def _required(claims: dict[str, Any]) -> Check:
    failure = _verdict(at_jwt.check_required, claims)
    if failure is None:
        return Check(Rule.CLAIMS, Status.PASS, "sub, client_id and jti are present (RFC 9068 §2.2)")
    return Check(Rule.CLAIMS, Status.FAIL, f"{failure.description} (RFC 9068 §2.2)")


def _revocation(claims: dict[str, Any], facts: TokenFacts) -> list[Check]:
    jti = claims.get("jti")
    if not isinstance(jti, str):
        return []  # the claims check failed: there is nothing to look up
    if not facts.revoked:
        return [Check(Rule.REVOKED, Status.PASS, f"jti {jti} is not on the revocation list")]
    how = "tollhouse tokens revoke, /revoke, a refresh token replay, or a reused code"
    return [Check(Rule.REVOKED, Status.FAIL, f"jti {jti} is on the revocation list ({how})")]


def _parties(claims: dict[str, Any], facts: TokenFacts) -> list[Check]:
    """Who the token names, as this server knows them (information, not rules)."""
    client_id, sub, jti = claims.get("client_id"), claims.get("sub"), claims.get("jti")
    notes: list[tuple[str, str]] = []
    if facts.client is not None:
        notes.append(("client", f"{facts.client.client_id} ({facts.client.name})"))
    elif isinstance(client_id, str):
        notes.append(("client", f"{client_id}: no such client here (deleted?)"))
    if isinstance(sub, str) and sub == client_id:
        notes.append(("subject", "the client itself (client_credentials)"))
    elif facts.user is not None:
        notes.append(("subject", f"user {facts.user.username} ({sub})"))
    elif isinstance(sub, str):
        notes.append(("subject", f"{sub}: no such user here (deleted?)"))
    if isinstance(claims.get("scope"), str):
        notes.append(("scope", str(claims["scope"])))
    if facts.record is not None:
        record = facts.record
        notes.append(
            ("issued", f"recorded at {_iso(record.issued_at)} for client {record.client_id}")
        )
    elif isinstance(jti, str):
        why = "purged after expiry, or minted elsewhere"
        notes.append(("issued", f"no issuance record for this jti ({why})"))
    return [Check(name, Status.INFO, detail) for name, detail in notes]


def _iso(timestamp: float) -> str:
    try:
        return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(timestamp)
