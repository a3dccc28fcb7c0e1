"""Second factors: TOTP authenticators (RFC 6238) and recovery codes.

The rules live here for the sign-in pages, the account page and the CLI alike:

- a secret is sealed under the master key (the :class:`Sealer` port), bound to its
  user by the associated data, so a sealed secret copied onto another user's row does
  not open;
- a code is accepted one step either side of now, and each step once (RFC 6238 §5.2):
  a code already used, or an earlier one, is refused (``use_totp_step`` is one
  conditional write, so two racing requests cannot both pass);
- a recovery code works once (deleted by the write that accepts it);
- a self-service enrolment is pending until a first code confirms it; an operator's
  (``tollhouse users totp enroll``) is confirmed at once.

How a sign-in is described (RFC 8176 ``amr``, OIDC Core §2 ``acr``): a password and a
TOTP or recovery code give ``amr ["pwd", "otp", "mfa"]`` and ``acr``
:data:`MFA_ACR`. A recovery code is a one-time password too; the audit trail tells
the two apart (``recovery_code_used``).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import urlsplit

from tollhouse.clock import Clock
from tollhouse.errors import OAuthError
from tollhouse.models import Client, TotpFactor
from tollhouse.protocol import totp
from tollhouse.protocol.events import NO_EVENTS, Events, MfaAction, SecondFactor
from tollhouse.protocol.requests import AuthorizationRequest
from tollhouse.storage.ports import FactorStore

log = logging.getLogger("tollhouse.mfa")

MFA_ACR = "urn:tollhouse:mfa"
"""The authentication context class of a sign-in with a second factor."""
MFA_AMR = ("pwd", "otp", "mfa")
PHR_ACR = "phr"
"""Phishing-resistant: a passkey was used (bound to this origin by the browser)."""
_LEVELS = {MFA_ACR: 1, PHR_ACR: 2}
Policy = Literal["off", "optional", "required"]


MAX_ACR_VALUES = 8


class UnmetAuthenticationRequirements(OAuthError):
    """OpenID Connect Unmet Authentication Requirements 1.0 §2: the sign-in did not
    reach the level the request needs (an external login app's, without a factor)."""

    error = "unmet_authentication_requirements"
    status = 400


def parse_acr_values(value: str | None) -> tuple[str, ...]:
    """OIDC Core §3.1.2.1 ``acr_values``: space-separated, in order of preference;
    values this server does not know are ignored (the claim is voluntary)."""
    if not value:
        return ()
    return tuple(dict.fromkeys(v for v in value.split(" ") if v))[:MAX_ACR_VALUES]


def satisfies(acr: str | None, needed: str) -> bool:
    """Whether a sign-in described by ``acr`` meets ``needed``: a passkey (``phr``)
    is also a second factor, a code is not phishing-resistant."""
    return _LEVELS.get(acr or "", 0) >= _LEVELS.get(needed, 0)


def needed_acr(request: AuthorizationRequest) -> str:
    """The level a request needs: ``phr``, :data:`MFA_ACR`, or none (``""``)."""
    return PHR_ACR if request.phr else MFA_ACR if request.mfa else ""


def passkey_required(policy: Policy, client: Client, acr_values: tuple[str, ...]) -> bool:
    """Whether this sign-in needs a passkey: the client's ``require_passkey`` is a
    floor; ``acr_values`` can only raise it."""
    return policy != "off" and (client.require_passkey or PHR_ACR in acr_values)


def mfa_required(policy: Policy, client: Client, acr_values: tuple[str, ...]) -> bool:
    """Whether this sign-in needs a second factor. The server's policy and the client's
    ``require_mfa`` are floors: ``acr_values`` can only raise the level, never lower
    it (unlike KC#16884); ``off`` turns second factors off entirely."""
    if policy == "off":
        return False
    if passkey_required(policy, client, acr_values):
        return True
    return policy == "required" or client.require_mfa or MFA_ACR in acr_values


def issuer_name(issuer: str | None) -> str:
    """What authenticator apps show above the code: the issuer's host name."""
    return urlsplit(issuer or "").hostname or "Tollhouse"


def may_change_factors(has_factor: bool, session_acr: str | None) -> bool:
    """Replacing a second factor, or its recovery codes, needs a session that passed
    it: a stolen password alone must not swap the factor out."""
    return not has_factor or satisfies(session_acr, MFA_ACR)


class Sealer(Protocol):
    """Authenticated encryption under the master key (security/secretbox.py)."""

    def seal(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def open(self, blob: bytes, aad: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Enrollment:
    """What an authenticator app needs: the secret (base32) and the otpauth URI."""

    secret: str
    uri: str


@dataclass(frozen=True, slots=True)
class FactorSummary:
    """What an operator may see: never the secret."""

    totp: Literal["confirmed", "pending"] | None
    created_at: int | None
    recovery_codes_left: int
    passkeys: int = 0


Verified = Literal["totp", "recovery_code"]


def _aad(user_id: str) -> bytes:
    return b"tollhouse/totp/" + user_id.encode("utf-8")


class SecondFactors:
    def __init__(
        self,
        *,
        store: FactorStore,
        sealer: Sealer,
        clock: Clock,
        issuer_name: str,
        events: Events = NO_EVENTS,
    ) -> None:
        self._store = store
        self._sealer = sealer
        self._clock = clock
        self._issuer_name = issuer_name
        self._events = events

    def _emit(self, user_id: str, action: MfaAction, by: str | None = None) -> None:
        self._events.emit(SecondFactor(user_id, action, by))

    async def enroll(self, user_id: str, account: str, *, confirmed: bool, by: str) -> Enrollment:
        """A new authenticator, replacing any other; pending unless ``confirmed``."""
        secret = totp.new_secret()
        await self._store.put_totp(
            TotpFactor(
                user_id=user_id,
                sealed_secret=self._sealer.seal(secret, _aad(user_id)),
                confirmed=confirmed,
                created_at=self._clock.now(),
            )
        )
        self._emit(user_id, "totp_enrolled", by)
        return self._enrollment(secret, account)

    def _enrollment(self, secret: bytes, account: str) -> Enrollment:
        uri = totp.provisioning_uri(secret, account, self._issuer_name)
        return Enrollment(totp.base32(secret), uri)

    async def pending(self, user_id: str, account: str) -> Enrollment | None:
        """The authenticator waiting for its first code, to show again."""
        factor = await self._store.get_totp(user_id)
        if factor is None or factor.confirmed:
            return None
        secret = self._secret(factor)
        return None if secret is None else self._enrollment(secret, account)

    async def confirm(self, user_id: str, code: str, *, by: str) -> bool:
        """The first code from the app: the pending authenticator becomes a factor."""
        factor = await self._store.get_totp(user_id)
        if factor is None or factor.confirmed:
            return False
        secret = self._secret(factor)
        step = None if secret is None else totp.matching_step(secret, code, self._clock.now())
        if step is None or not await self._store.confirm_totp(user_id, step):
            self._emit(user_id, "totp_failed", by)
            return False
        self._emit(user_id, "totp_confirmed", by)
        return True

    async def has_factor(self, user_id: str) -> bool:
        """A confirmed authenticator app or a passkey."""
        factor = await self._store.get_totp(user_id)
        if factor is not None and factor.confirmed:
            return True
        return bool(await self._store.list_passkeys(user_id))

    async def has_totp(self, user_id: str) -> bool:
        factor = await self._store.get_totp(user_id)
        return factor is not None and factor.confirmed

    async def verify(self, user_id: str, code: str) -> Verified | None:
        """A TOTP code or a recovery code, each accepted once; None: refused."""
        if not code or len(code) > totp.MAX_CODE_LENGTH:
            self._emit(user_id, "totp_failed")
            return None
        if totp.looks_like_recovery_code(code):
            if await self._store.use_recovery_code(user_id, totp.recovery_digest(code)):
                self._emit(user_id, "recovery_code_used")
                return "recovery_code"
            self._emit(user_id, "totp_failed")
            return None
        factor = await self._store.get_totp(user_id)
        if factor is None or not factor.confirmed:
            self._emit(user_id, "totp_failed")
            return None
        secret = self._secret(factor)
        step = None if secret is None else totp.matching_step(secret, code, self._clock.now())
        if step is None:
            self._emit(user_id, "totp_failed")
            return None
        if not await self._store.use_totp_step(user_id, step):
            self._emit(user_id, "totp_replayed")
            return None
        self._emit(user_id, "totp_used")
        return "totp"

    async def new_recovery_codes(self, user_id: str, *, by: str) -> list[str]:
        """Ten new codes, replacing the old ones; only their digests are kept."""
        codes = totp.new_recovery_codes()
        await self._store.set_recovery_codes(user_id, [totp.recovery_digest(c) for c in codes])
        self._emit(user_id, "recovery_codes_created", by)
        return codes

    async def summary(self, user_id: str) -> FactorSummary:
        factor = await self._store.get_totp(user_id)
        left = await self._store.recovery_codes_left(user_id)
        passkeys = len(await self._store.list_passkeys(user_id))
        if factor is None:
            return FactorSummary(None, None, left, passkeys)
        state: Literal["confirmed", "pending"] = "confirmed" if factor.confirmed else "pending"
        return FactorSummary(state, factor.created_at, left, passkeys)

    async def reset(self, user_id: str, *, by: str) -> bool:
        removed = await self._store.reset_factors(user_id)
        if removed:
            self._emit(user_id, "factors_reset", by)
        return removed

    def _secret(self, factor: TotpFactor) -> bytes | None:
        """None when the secret does not open (sealed under another master key): the
        factor then refuses every code rather than failing the request."""
        secret = _opened(self._sealer, factor.sealed_secret, _aad(factor.user_id))
        if secret is None:
            log.error("a TOTP secret does not open with this master key")
        return secret

    async def reseal(self, old: Sealer) -> int:
        """Re-encrypt every authenticator opened by ``old`` under this sealer (``keys
        rewrap``); those already under it are left. How many were re-sealed."""
        count = 0
        for factor in await self._store.list_totp():
            aad = _aad(factor.user_id)
            if _opened(self._sealer, factor.sealed_secret, aad) is not None:
                continue
            secret = _opened(old, factor.sealed_secret, aad)
            if secret is None:
                continue
            sealed = self._sealer.seal(secret, aad)
            await self._store.put_totp(dataclasses.replace(factor, sealed_secret=sealed))
            count += 1
        return count


def _opened(sealer: Sealer, blob: bytes, aad: bytes) -> bytes | None:
    """The plaintext, or None when the blob does not open (tampered, another key)."""
    try:
        return sealer.open(blob, aad)
    except Exception:  # the port's own error type is the adapter's (DecryptionError)
        return None
