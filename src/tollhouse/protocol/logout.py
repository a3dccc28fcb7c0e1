"""Ending a browser session (OIDC RP-Initiated Logout 1.0, Back-Channel Logout 1.0).

Used by ``/logout`` and ``tollhouse sessions revoke``: delete the session, revoke the
refresh token families granted in it without ``offline_access``, and produce one
logout token per client that registered a back-channel logout URI.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tollhouse.clock import Clock
from tollhouse.models import Client, Session
from tollhouse.protocol.client_trust import operator_made
from tollhouse.protocol.id_token import IdTokenIssuer
from tollhouse.protocol.revocation import Revoker
from tollhouse.protocol.subjects import Subjects
from tollhouse.protocol.tokens import TokenSigner
from tollhouse.randomness import identifier
from tollhouse.storage.ports import (
    ClientStore,
    RefreshTokenStore,
    RegistrationTokenStore,
    SessionStore,
)

log = logging.getLogger("tollhouse.audit")

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYP = "logout+jwt"
LOGOUT_TOKEN_TTL = 120


@dataclass(frozen=True, slots=True)
class LogoutNotification:
    """A logout token to POST (form field ``logout_token``) to a client's URI."""

    client_id: str
    uri: str
    logout_token: str
    operator_chosen: bool = False
    """The URI was set by an operator, not by a client registered over HTTP (RFC 7591):
    it may be an internal address (issue 21)."""


class SessionTerminator:
    def __init__(
        self,
        sessions: SessionStore,
        clients: ClientStore,
        registrations: RegistrationTokenStore,
        families: RefreshTokenStore,
        revoker: Revoker,
        signer: TokenSigner,
        id_tokens: IdTokenIssuer,
        subjects: Subjects,
        clock: Clock,
        issuer: str,
    ) -> None:
        self._sessions = sessions
        self._clients = clients
        self._registrations = registrations
        self._families = families
        self._revoker = revoker
        self._signer = signer
        self._id_tokens = id_tokens
        self._subjects = subjects
        self._clock = clock
        self._issuer = issuer

    async def end(self, session: Session, reason: str) -> list[LogoutNotification]:
        client_ids = await self._sessions.session_clients(session.sid) if session.sid else []
        await self._sessions.delete_session(session.session_hash)
        if session.sid:
            for family in await self._families.families_of(sid=session.sid):
                if not family.offline:
                    await self._revoker.revoke_family(family.family_id, reason)
        log.info(
            "session ended",
            extra={
                "event": "logout",
                "user_id": session.user_id,
                "sid": session.sid,
                "reason": reason,
            },
        )
        notifications: list[LogoutNotification] = []
        for client_id in client_ids:
            client = await self._clients.get_client(client_id)
            if client is None or not client.backchannel_logout_uri:
                continue
            notifications.append(
                LogoutNotification(
                    client_id,
                    client.backchannel_logout_uri,
                    self._logout_token(client, session),
                    operator_chosen=await operator_made(self._registrations, client_id),
                )
            )
        return notifications

    def _logout_token(self, client: Client, session: Session) -> str:
        """Back-Channel Logout 1.0 §2.4: iss, aud, iat, exp, jti, events, sub and sid;
        "A nonce Claim MUST NOT be present"."""
        now = self._clock.now()
        claims = {
            "iss": self._issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + LOGOUT_TOKEN_TTL,
            "jti": identifier(16),
            "sub": self._subjects.for_client(client, session.user_id),
            "sid": session.sid,
            "events": {BACKCHANNEL_EVENT: {}},
        }
        return self._signer.sign_jwt(
            claims, typ=LOGOUT_TOKEN_TYP, alg=self._id_tokens.alg_for(client)
        )
