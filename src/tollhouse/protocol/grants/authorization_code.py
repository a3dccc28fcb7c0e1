"""RFC 6749 §4.1.3-4.1.4: exchanging an authorization code, with RFC 7636 PKCE."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, NoReturn

from tollhouse.clock import Clock
from tollhouse.errors import InvalidGrant, InvalidTarget, UnauthorizedClient
from tollhouse.models import AuthorizationCode, Client, GrantType, TokenFamily
from tollhouse.protocol import pkce
from tollhouse.protocol.dpop_context import bound_key
from tollhouse.protocol.events import NO_EVENTS, CodeReplayed, Events
from tollhouse.protocol.id_token import Authentication, IdTokenIssuer
from tollhouse.protocol.refresh_tokens import IssuedRefreshToken, RefreshTokenIssuer
from tollhouse.protocol.requests import TokenRequest, require
from tollhouse.protocol.results import NO_STORE, JsonResult
from tollhouse.protocol.revocation import Revoker
from tollhouse.protocol.scopes import OFFLINE_ACCESS, OPENID
from tollhouse.protocol.tokens import AccessTokenIssuer
from tollhouse.randomness import fingerprint
from tollhouse.storage.ports import CodeStore, IssuedByCode


class AuthorizationCodeGrant:
    grant_type: str = GrantType.AUTHORIZATION_CODE
    parameters: ClassVar[tuple[str, ...]] = ("code", "redirect_uri", "code_verifier", "resource")

    def __init__(
        self,
        codes: CodeStore,
        access_tokens: AccessTokenIssuer,
        refresh_tokens: RefreshTokenIssuer,
        id_tokens: IdTokenIssuer,
        revoker: Revoker,
        clock: Clock,
        *,
        events: Events = NO_EVENTS,
    ) -> None:
        self._events = events
        self._codes = codes
        self._access_tokens = access_tokens
        self._refresh_tokens = refresh_tokens
        self._id_tokens = id_tokens
        self._revoker = revoker
        self._clock = clock

    async def handle(self, client: Client, request: TokenRequest) -> JsonResult:
        if GrantType.AUTHORIZATION_CODE not in client.grant_types:
            raise UnauthorizedClient("This client may not use the authorization_code grant.")
        params = request.params
        code_hash = fingerprint(require(params, "code"))
        now = self._clock.now()
        code = await self._unused_code(code_hash, client, params, now)
        issued = await self.redeem(client, code, now)
        if issued is None:
            # Another redemption consumed it since it was read: this one is a reuse.
            await self._refuse_unusable_code(await self._codes.get_code(code_hash))
        return issued

    async def redeem(self, client: Client, code: AuthorizationCode, now: int) -> JsonResult | None:
        """Consume ``code`` and answer with its tokens; None, with nothing issued, when
        another redemption consumed it first. Also the device grant's last step
        (grants/device_code.py): one set of tokens for both flows."""
        access = self._access_tokens.reserve(client.access_token_ttl)
        family, refresh = self._new_refresh_token(client, code)
        # What this redemption issues is recorded by the write that consumes the code:
        # a replay that finds the code used finds everything to revoke at once, and the
        # exchange writes once (the access token's record included).
        family_id = None if family is None else family.family_id
        issued = IssuedByCode(
            access.jti,
            access.expires_at,
            family=family,
            first_token=None if refresh is None else refresh.record,
            access_token=self._access_tokens.record_of(
                access, client_id=client.client_id, subject=code.user_id, family_id=family_id
            ),
        )
        if await self._codes.consume_code(code.code_hash, now, issued) is None:
            return None
        token = await self._access_tokens.issue(
            subject=code.user_id,
            client_id=client.client_id,
            audience=code.audience,
            scopes=code.scopes,
            auth_time=code.auth_time,
            amr=code.amr,
            acr=code.acr,
            family_id=family_id,
            reserved=access,
            recorded=True,
        )
        body: dict[str, object] = {
            "access_token": token.token,
            "token_type": "Bearer",
            "expires_in": token.expires_in,
            "scope": " ".join(code.scopes),
        }
        if refresh is not None:
            self._refresh_tokens.announce(refresh)
            body["refresh_token"] = refresh.value
        if OPENID in code.scopes:
            # OIDC Core §3.1.3.3: the token response carries the ID Token.
            body["id_token"] = await self._id_token(client, code, token.token)
        return JsonResult(200, body, dict(NO_STORE))

    async def _unused_code(
        self, code_hash: str, client: Client, params: Mapping[str, str], now: int
    ) -> AuthorizationCode:
        """The code, unused, unexpired and bound to this request — checked by reading
        only: a refused redemption leaves the code as it was.

        RFC 6749 §4.1.3 binds a code to its client, redirect URI and (RFC 7636 §4.6)
        PKCE verifier; §10.5 asks that codes be short-lived and single-use. Spending
        the code on a refused binding adds nothing to either, and hands a denial of
        service to whoever saw the code in flight: another client, or anyone naming a
        public client with a wrong verifier, could burn the rightful redemption — the
        very interception PKCE exists to defeat. A verifier carries at least 256 bits
        (RFC 7636 §7.1), beyond guessing in the code's lifetime, and /token is rate
        limited, so a wrong one is refused and the code stays redeemable (as in
        node-oidc-provider; fosite spends its PKCE session instead). The client is
        checked first, so another client can neither spend a code nor, by presenting
        a used one, revoke what it issued.
        """
        code = await self._codes.get_code(code_hash)
        if code is None:
            await self._refuse_unusable_code(code)
        _check_client(code, client)
        if code.used_at is not None or code.expires_at <= now:
            await self._refuse_unusable_code(code)
        _check_binding(code, client, params)
        return code

    def _new_refresh_token(
        self, client: Client, code: AuthorizationCode
    ) -> tuple[TokenFamily | None, IssuedRefreshToken | None]:
        """A new family and its first token, for a client allowed refresh tokens."""
        if GrantType.REFRESH_TOKEN not in client.grant_types:
            return None, None
        family = self._refresh_tokens.new_family(
            client,
            subject=code.user_id,
            sid=code.session_id,
            # OIDC Core §11: offline_access asks for access that outlives the session.
            offline=OFFLINE_ACCESS in code.scopes,
            amr=code.amr,
            acr=code.acr,
        )
        first = self._refresh_tokens.build(
            client, family, scopes=code.scopes, audience=code.audience, auth_time=code.auth_time
        )
        return family, first

    async def _id_token(self, client: Client, code: AuthorizationCode, access_token: str) -> str:
        return await self._id_tokens.issue(
            client,
            Authentication(
                user_id=code.user_id,
                auth_time=code.auth_time,
                nonce=code.nonce,
                sid=code.session_id,
                amr=code.amr,
                acr=code.acr,
            ),
            access_token=access_token,
        )

    async def _refuse_unusable_code(self, stored: AuthorizationCode | None) -> NoReturn:
        """Explain why a code cannot be used; on reuse, revoke what it issued.

        RFC 6749 §4.1.2: "If an authorization code is used more than once, the
        authorization server MUST deny the request and SHOULD revoke (when possible)
        all tokens previously issued based on that authorization code." The first
        redemption recorded them with its consumption, so a used code names them.
        """
        if stored is None:
            raise InvalidGrant("The authorization code is unknown.")
        if stored.used_at is not None and stored.issued_jti is None:
            # Spent without issuing anything: nothing to revoke, no replay to report.
            raise InvalidGrant("The authorization code was already used.")
        if stored.used_at is not None:
            # Reported first: the replay happened even if sharing the revocation fails.
            self._events.emit(CodeReplayed(stored.client_id))
            if stored.family_id is not None:
                await self._revoker.revoke_family(stored.family_id, "code_reuse")
            if stored.issued_jti is not None and stored.issued_exp is not None:
                await self._revoker.revoke_access_token(
                    stored.issued_jti, stored.issued_exp, "code_reuse"
                )
            raise InvalidGrant("The authorization code was already used.")
        raise InvalidGrant("The authorization code has expired.")


def _check_client(code: AuthorizationCode, client: Client) -> None:
    # RFC 6749 §4.1.3: "ensure that the authorization code was issued to the
    # authenticated confidential client, or ... to the client in the request".
    if code.client_id != client.client_id:
        raise InvalidGrant(
            "The authorization code was issued to another client.",
            debug=f"code of {code.client_id} presented by {client.client_id}",
        )


def _check_binding(code: AuthorizationCode, client: Client, params: Mapping[str, str]) -> None:
    """The code was issued for this redirect URI, PKCE challenge and resource."""
    _check_redirect_uri(code, params.get("redirect_uri"), client)
    pkce.verify(params.get("code_verifier"), code.code_challenge)
    resource = params.get("resource")
    if resource is not None and resource != code.audience:
        raise InvalidTarget("The resource differs from the one that was authorized.")
    if code.dpop_jkt is not None and bound_key.get() != code.dpop_jkt:
        # RFC 9449 §10.1: the proof must use the key named by dpop_jkt at /authorize.
        raise InvalidGrant("The DPoP proof key differs from the dpop_jkt of the request.")


def _check_redirect_uri(code: AuthorizationCode, sent: str | None, client: Client) -> None:
    """RFC 6749 §4.1.3: redirect_uri is "REQUIRED, if the redirect_uri parameter was
    included in the authorization request ... and their values MUST be identical"."""
    if code.redirect_uri:
        if sent is None:
            raise InvalidGrant(
                "redirect_uri is required: it was sent in the authorization request."
            )
        if sent != code.redirect_uri:
            raise InvalidGrant("redirect_uri differs from the one in the authorization request.")
    elif sent is not None and sent not in client.redirect_uris[:1]:
        raise InvalidGrant("redirect_uri differs from the one the code was issued for.")
