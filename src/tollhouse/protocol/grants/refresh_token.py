"""RFC 6749 §6 refreshing an access token, with rotation and replay detection
(RFC 9700 §4.14.2: "the authorization server ... MUST ... detect refresh token replay")."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import ClassVar, NoReturn

from tollhouse.clock import Clock
from tollhouse.errors import (
    InvalidDpopProof,
    InvalidGrant,
    InvalidScope,
    InvalidTarget,
    UnauthorizedClient,
)
from tollhouse.models import Client, GrantType, RefreshToken, TokenFamily
from tollhouse.protocol import scopes
from tollhouse.protocol.dpop_context import bound_key
from tollhouse.protocol.events import NO_EVENTS, Events, RefreshReplayed
from tollhouse.protocol.id_token import Authentication, IdTokenIssuer
from tollhouse.protocol.refresh_tokens import RefreshTokenIssuer
from tollhouse.protocol.requests import TokenRequest, require
from tollhouse.protocol.results import NO_STORE, JsonResult
from tollhouse.protocol.revocation import Revoker
from tollhouse.protocol.tokens import AccessTokenIssuer
from tollhouse.randomness import fingerprint
from tollhouse.storage.ports import RefreshTokenStore

log = logging.getLogger("tollhouse.security")


class RefreshTokenGrant:
    grant_type: str = GrantType.REFRESH_TOKEN
    parameters: ClassVar[tuple[str, ...]] = ("refresh_token", "scope", "resource")

    def __init__(
        self,
        store: RefreshTokenStore,
        refresh_tokens: RefreshTokenIssuer,
        access_tokens: AccessTokenIssuer,
        id_tokens: IdTokenIssuer,
        revoker: Revoker,
        clock: Clock,
        grace_period: int = 0,
        *,
        events: Events = NO_EVENTS,
    ) -> None:
        self._events = events
        self._store = store
        self._refresh_tokens = refresh_tokens
        self._access_tokens = access_tokens
        self._id_tokens = id_tokens
        self._revoker = revoker
        self._clock = clock
        self._grace = grace_period

    async def handle(self, client: Client, request: TokenRequest) -> JsonResult:
        if GrantType.REFRESH_TOKEN not in client.grant_types:
            raise UnauthorizedClient("This client may not use the refresh_token grant.")
        params = request.params
        presented = await self._presented(client, require(params, "refresh_token"))
        requested = _requested_scopes(params, presented)

        now = self._clock.now()
        family = await self._store.get_family(presented.family_id)
        # A used token in a dead family still goes on to replay detection below.
        if family is None or (presented.used_at is None and not family.live_at(now)):
            raise InvalidGrant("The refresh token has been revoked or has expired.")
        if presented.used_at is None and presented.expires_at <= now:
            raise InvalidGrant("The refresh token has expired.")
        _check_key(family)
        retry = family.live_at(now) and self._within_grace(presented, now)
        if presented.used_at is not None and not retry:
            await self._replayed(presented)
        # RFC 6749 §6: the new refresh token keeps the scope of the one presented. It is
        # built first so that consuming the old one and storing it are one transaction.
        successor = self._refresh_tokens.build(
            client,
            family,
            scopes=presented.scopes,
            audience=presented.audience,
            auth_time=presented.auth_time,
        )
        # Issued (and recorded in its family) before the rotation that lets it out: a
        # concurrent use of the same token that loses the rotation and revokes the
        # family then finds this access token among the family's.
        access = await self._access_tokens.issue(
            subject=presented.subject,
            client_id=client.client_id,
            audience=presented.audience,
            scopes=tuple(requested),
            auth_time=presented.auth_time,
            amr=family.amr,
            acr=family.acr,
            ttl=client.access_token_ttl,
            family_id=family.family_id,
        )
        await self._rotate(presented, successor.record, now)
        self._refresh_tokens.announce(successor)
        body: dict[str, object] = {
            "access_token": access.token,
            "token_type": "Bearer",
            "expires_in": access.expires_in,
            "refresh_token": successor.value,
            "scope": " ".join(requested),
        }
        if scopes.OPENID in requested:
            body["id_token"] = await self._id_token(client, presented, family, access.token)
        return JsonResult(200, body, dict(NO_STORE))

    async def _presented(self, client: Client, value: str) -> RefreshToken:
        """The stored token, issued to this client.

        RFC 6749 §6: "validate the refresh token ... ensure that the refresh token was
        issued to the authenticated client". Checked before consuming, so another
        client cannot burn a token it does not own."""
        presented = await self._store.get_refresh_token(fingerprint(value))
        if presented is None:
            raise InvalidGrant("The refresh token is unknown.")
        if presented.client_id != client.client_id:
            raise InvalidGrant(
                "The refresh token was issued to another client.",
                debug=f"token of {presented.client_id} presented by {client.client_id}",
            )
        return presented

    async def _id_token(
        self, client: Client, presented: RefreshToken, family: TokenFamily, access_token: str
    ) -> str:
        """OIDC Core §12.2: a refreshed ID Token keeps iss, sub, aud, auth_time and the
        amr/acr of the original authentication."""
        auth = Authentication(
            presented.subject,
            presented.auth_time,
            sid=family.sid,
            amr=family.amr,
            acr=family.acr,
        )
        return await self._id_tokens.issue(client, auth, access_token=access_token)

    async def _rotate(self, presented: RefreshToken, successor: RefreshToken, now: int) -> None:
        """Consume ``presented`` and store ``successor`` (one conditional write), or rotate
        the unused successor of a retry within the grace period; else raise.

        RFC 9700 §4.14.2: a refresh token used twice means its family is compromised —
        also when both uses arrive together. The loser of that race read the token
        unused, so its consuming write finds nothing to consume: it reads the token
        again and takes the path of a token presented after its use (a retry within
        the grace period, or a replay that revokes the family).
        """
        if presented.used_at is None:
            consumed = await self._store.rotate_refresh_token(
                presented.token_hash, successor, now, replaces=presented.token_hash
            )
            if consumed is not None:
                return
            current = await self._store.get_refresh_token(presented.token_hash)
            if current is None or current.used_at is None:
                family = await self._store.get_family(presented.family_id)
                if family is None or not family.live_at(now):
                    raise InvalidGrant("The refresh token has been revoked or has expired.")
                raise InvalidGrant("The refresh token has expired.")
            presented = current
        if (
            self._within_grace(presented, now)
            and presented.replaced_by is not None
            # The successor was never used: the client most likely lost the response.
            # Rotating it atomically leaves exactly one live descendant.
            and await self._store.rotate_refresh_token(
                presented.replaced_by, successor, now, replaces=presented.token_hash
            )
            is not None
        ):
            log.info(
                "refresh token retried within the grace period",
                extra={"event": "refresh_retry", "family_id": presented.family_id},
            )
            return
        await self._replayed(presented)

    def _within_grace(self, used: RefreshToken, now: int) -> bool:
        """``TOLLHOUSE_REFRESH_GRACE_PERIOD``: a used token presented again this soon after
        its use, whose successor exists, may be a retry of a lost response."""
        return (
            self._grace > 0
            and used.used_at is not None
            and now - used.used_at <= self._grace
            and used.replaced_by is not None
        )

    async def _replayed(self, presented: RefreshToken) -> NoReturn:
        # Reported first: the replay happened even if sharing the revocation fails.
        self._events.emit(RefreshReplayed(presented.family_id, presented.client_id))
        await self._revoker.revoke_family(presented.family_id, "refresh_replay")
        raise InvalidGrant("The refresh token was already used; its grant has been revoked.")


def _requested_scopes(params: Mapping[str, str], presented: RefreshToken) -> tuple[str, ...]:
    """The scopes (and resource) asked for at this refresh, within what was granted."""
    requested = scopes.parse(params.get("scope")) if "scope" in params else presented.scopes
    # RFC 6749 §6: "The requested scope MUST NOT include any scope not originally granted".
    wider = [s for s in requested if s not in presented.scopes]
    if wider:
        raise InvalidScope(f"The scope {wider[0]} was not granted to this refresh token.")
    resource = params.get("resource")
    if resource is not None and resource != presented.audience:
        raise InvalidTarget("The resource differs from the one that was authorized.")
    return tuple(requested)


def _check_key(family: TokenFamily) -> None:
    """RFC 9449 §5: a public client's refresh token is bound to the key of the proof
    it was first issued with; checked before the token is consumed."""
    if family.dpop_jkt is None:
        return
    jkt = bound_key.get()
    if jkt is None:
        raise InvalidDpopProof("This refresh token is DPoP-bound: send a DPoP proof.")
    if jkt != family.dpop_jkt:
        raise InvalidGrant("The DPoP proof key differs from the refresh token's key.")
