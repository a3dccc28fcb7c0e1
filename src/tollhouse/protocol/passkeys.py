"""Passkeys (W3C WebAuthn Level 3) as a second factor, through the ``webauthn`` package.

- Registration: user verification required, attestation ``none`` (the server trusts
  the key, not a vendor's certificate); the challenge travels sealed under the master
  key, bound to the user and five minutes, so nothing is stored before the key is.
- Use after the password: the challenge is the second-step interaction's own (taken
  once); user verification required; the signature counter must grow when the
  authenticator keeps one (§6.1.1: a counter that does not grow hints at a cloned
  key) and moves by one conditional write.
- The relying party id is the issuer's host name and the origin the issuer's: a page
  on another host cannot use the passkeys (the browser refuses), nor a response made
  for another origin (refused here).

A passkey after the password is described as ``amr ["pwd", "hwk", "mfa"]`` (RFC 8176:
proof of possession of a hardware-secured key); a password-less one (discoverable
credential, the browser names the user) as ``["hwk", "user", "mfa"]``: the key is one
factor and the user verification (PIN or biometric, required) another, as NIST SP
800-63B counts a multi-factor cryptographic authenticator. Both give ``acr``
:data:`~tollhouse.protocol.mfa.PHR_ACR`: the browser binds the answer to this origin,
so a phishing page cannot relay it.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from tollhouse.clock import Clock
from tollhouse.models import Passkey
from tollhouse.protocol.events import NO_EVENTS, Events, SecondFactor
from tollhouse.protocol.mfa import Sealer
from tollhouse.storage.ports import FactorStore

PASSKEY_AMR = ("pwd", "hwk", "mfa")
PASSWORDLESS_AMR = ("hwk", "user", "mfa")
CEREMONY_TTL = 300
MAX_RESPONSE_LENGTH = 64 * 1024
MAX_USER_HANDLE = 64
"""WebAuthn §5.4.3: a user handle is at most 64 bytes."""
_STATE_AAD = b"tollhouse/passkey-registration"


@dataclass(frozen=True, slots=True)
class Ceremony:
    """``options``: the JSON for ``PublicKeyCredential.parse…OptionsFromJSON``;
    ``state``: what the form sends back with the browser's answer."""

    options: str
    state: str


def new_challenge() -> str:
    return bytes_to_base64url(secrets.token_bytes(32))


class Passkeys:
    def __init__(
        self,
        *,
        store: FactorStore,
        sealer: Sealer,
        clock: Clock,
        issuer: str,
        rp_name: str,
        events: Events = NO_EVENTS,
    ) -> None:
        parts = urlsplit(issuer)
        self._rp_id = parts.hostname or "localhost"
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._rp_name = rp_name
        self._store = store
        self._sealer = sealer
        self._clock = clock
        self._events = events

    async def registration(self, user_id: str, username: str) -> Ceremony:
        challenge = secrets.token_bytes(32)
        existing = await self._store.list_passkeys(user_id)
        options = generate_registration_options(
            rp_id=self._rp_id,
            rp_name=self._rp_name,
            user_name=username,
            user_id=user_id.encode("utf-8"),
            challenge=challenge,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[_descriptor(p) for p in existing],
        )
        expires = self._clock.now() + CEREMONY_TTL
        plain = json.dumps([bytes_to_base64url(challenge), user_id, expires]).encode()
        state = bytes_to_base64url(self._sealer.seal(plain, _STATE_AAD))
        return Ceremony(options_to_json(options), state)

    async def register(self, user_id: str, state: str, response: str, *, by: str) -> bool:
        """Verify the browser's new credential and keep it; False: refused."""
        challenge = self._open_state(user_id, state)
        if challenge is None or not response or len(response) > MAX_RESPONSE_LENGTH:
            return self._failed(user_id, by)
        try:
            verified = verify_registration_response(
                credential=response,
                expected_challenge=challenge,
                expected_rp_id=self._rp_id,
                expected_origin=self._origin,
                require_user_verification=True,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError):
            return self._failed(user_id, by)
        passkey = Passkey(
            credential_id=bytes_to_base64url(verified.credential_id),
            user_id=user_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            created_at=self._clock.now(),
        )
        await self._store.add_passkey(passkey)
        self._events.emit(SecondFactor(user_id, "passkey_registered", by))
        return True

    async def options_for(self, user_id: str, challenge: str) -> str | None:
        """The request options for the user's passkeys, or None when they have none."""
        passkeys = await self._store.list_passkeys(user_id)
        if not passkeys:
            return None
        options = generate_authentication_options(
            rp_id=self._rp_id,
            challenge=base64url_to_bytes(challenge),
            allow_credentials=[_descriptor(p) for p in passkeys],
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return options_to_json(options)

    @property
    def usable(self) -> bool:
        """WebAuthn needs a host name as relying party id: browsers refuse an IP address."""
        try:
            ipaddress.ip_address(self._rp_id)
        except ValueError:
            return True
        return False

    async def has_passkey(self, user_id: str) -> bool:
        return bool(await self._store.list_passkeys(user_id))

    def discoverable_options(self, challenge: str) -> str:
        """Request options naming no credential: the browser offers the passkeys it
        holds for this relying party and names the user (``userHandle``)."""
        options = generate_authentication_options(
            rp_id=self._rp_id,
            challenge=base64url_to_bytes(challenge),
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return options_to_json(options)

    async def authenticate_discoverable(self, challenge: str, response: str) -> str | None:
        """The user whose passkey answered ``challenge`` (its ``userHandle`` is the user
        id given at registration), or None."""
        if not response or len(response) > MAX_RESPONSE_LENGTH:
            return None
        try:
            handle = json.loads(response)["response"]["userHandle"]
            user_id = base64url_to_bytes(str(handle)).decode("utf-8")
        except (ValueError, KeyError, TypeError):
            return None
        # A handle naming nobody with a passkey is refused before any audit line, so a
        # made-up handle does not write its text into the log.
        if not 0 < len(user_id) <= MAX_USER_HANDLE or not await self.has_passkey(user_id):
            return None
        return user_id if await self.authenticate(user_id, challenge, response) else None

    async def authenticate(self, user_id: str, challenge: str, response: str) -> bool:
        """The browser's assertion for ``challenge`` by one of the user's passkeys."""
        if not response or len(response) > MAX_RESPONSE_LENGTH:
            return self._failed(user_id)
        try:
            credential_id = str(json.loads(response)["id"])
        except (ValueError, KeyError, TypeError):
            return self._failed(user_id)
        found = [
            p for p in await self._store.list_passkeys(user_id) if p.credential_id == credential_id
        ]
        if not found:
            return self._failed(user_id)
        passkey = found[0]
        try:
            verified = verify_authentication_response(
                credential=response,
                expected_challenge=base64url_to_bytes(challenge),
                expected_rp_id=self._rp_id,
                expected_origin=self._origin,
                credential_public_key=passkey.public_key,
                credential_current_sign_count=passkey.sign_count,
                require_user_verification=True,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError):
            return self._failed(user_id)
        if not await self._store.use_passkey(
            credential_id, passkey.sign_count, verified.new_sign_count
        ):
            return self._failed(user_id)
        self._events.emit(SecondFactor(user_id, "passkey_used"))
        return True

    def _open_state(self, user_id: str, state: str) -> bytes | None:
        try:
            plain = self._sealer.open(base64url_to_bytes(state), _STATE_AAD)
            challenge, owner, expires = json.loads(plain)
        except Exception:  # not ours, tampered, or another master key
            return None
        if owner != user_id or not isinstance(expires, int) or expires < self._clock.now():
            return None
        return base64url_to_bytes(str(challenge))

    def _failed(self, user_id: str, by: str | None = None) -> bool:
        self._events.emit(SecondFactor(user_id, "passkey_failed", by))
        return False


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(passkey.credential_id))
