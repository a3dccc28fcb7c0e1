"""OpenID Connect Core §5.3 UserInfo endpoint, protected as an RFC 6750 resource."""

from __future__ import annotations

from dataclasses import dataclass
from hmac import compare_digest
from typing import Any

from tollhouse.clock import Clock
from tollhouse.errors import (
    InsufficientScope,
    InvalidDpopProof,
    InvalidRequest,
    InvalidToken,
    OAuthError,
)
from tollhouse.protocol.claims import user_claims
from tollhouse.protocol.requests import DpopRequest
from tollhouse.protocol.revocation import Revoker
from tollhouse.protocol.scopes import OPENID
from tollhouse.protocol.subjects import Subjects
from tollhouse.protocol.token_lookup import TokenLookup
from tollhouse.resource.dpop import ProofChecker
from tollhouse.storage.ports import ClientStore, UserStore

REALM = "tollhouse"


@dataclass(frozen=True, slots=True)
class UserInfoResult:
    status: int
    body: dict[str, Any]
    www_authenticate: str | None = None
    client_id: str | None = None
    """The client the token was issued to, once known (its CORS origins, protocol/cors.py)."""


def bearer_challenge(error: OAuthError | None) -> str:
    """RFC 6750 §3: no error code when the request carried no token (§3.1)."""
    if error is None:
        return f'Bearer realm="{REALM}"'
    return f'Bearer realm="{REALM}", error="{error.error}", error_description="{error.description}"'


def dpop_challenge(error: OAuthError, algs: tuple[str, ...]) -> str:
    """RFC 9449 §7.1: the ``DPoP`` scheme's challenge, with the algorithms accepted."""
    return (
        f'DPoP algs="{" ".join(algs)}", error="{error.error}", '
        f'error_description="{error.description}"'
    )


def presented_token(
    authorization: str | None, form: dict[str, str] | None
) -> tuple[str, str | None]:
    """The scheme (``bearer`` or ``dpop``) and the token: RFC 6750 §2.1 header or §2.2
    form body ("Clients MUST NOT use more than one method"), or RFC 9449 §7.1's
    ``Authorization: DPoP``."""
    from_header, scheme = None, "bearer"
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        scheme = scheme.lower()
        if scheme not in ("bearer", "dpop") or not value.strip():
            raise InvalidRequest("The Authorization header must be: Bearer or DPoP <token>.")
        from_header = value.strip()
    from_form = (form or {}).get("access_token")
    if from_header and from_form:
        raise InvalidRequest("Send the access token in the header or the body, not both.")
    return scheme, from_header or from_form


class UserInfoEndpoint:
    def __init__(
        self,
        lookup: TokenLookup,
        revoker: Revoker,
        users: UserStore,
        clients: ClientStore,
        subjects: Subjects,
        clock: Clock,
        dpop: ProofChecker | None = None,
    ) -> None:
        self._lookup = lookup
        self._revoker = revoker
        self._users = users
        self._clients = clients
        self._subjects = subjects
        self._clock = clock
        self._dpop = dpop

    async def handle(
        self,
        authorization: str | None,
        form: dict[str, str] | None,
        dpop: DpopRequest | None = None,
        certificate: str | None = None,
    ) -> UserInfoResult:
        """``certificate``: the ``x5t#S256`` of the client's TLS certificate, if any."""
        scheme = "bearer"
        try:
            scheme, token = presented_token(authorization, form)
            if token is None:
                return UserInfoResult(401, {}, bearer_challenge(None))
            client_id, claims = await self._claims(token, scheme, dpop, certificate)
            return UserInfoResult(200, claims, client_id=client_id)
        except InvalidRequest as error:
            return UserInfoResult(400, error.to_dict(), bearer_challenge(error))
        except InvalidDpopProof as error:
            # RFC 9449 §7.1: 401 at a protected resource, with the DPoP challenge.
            return UserInfoResult(401, error.to_dict(), dpop_challenge(error, self._algs))
        except (InvalidToken, InsufficientScope) as error:
            challenge = (
                dpop_challenge(error, self._algs) if scheme == "dpop" else bearer_challenge(error)
            )
            return UserInfoResult(error.status, error.to_dict(), challenge)

    @property
    def _algs(self) -> tuple[str, ...]:
        return () if self._dpop is None else self._dpop.algs

    async def _check_binding(
        self, token: str, jkt: object, scheme: str, dpop: DpopRequest | None
    ) -> None:
        """RFC 9449 §7: a DPoP-bound token needs the DPoP scheme and a proof by its key
        for this request; a bearer token may not come with the DPoP scheme."""
        if scheme == "bearer":
            if jkt is not None:
                raise InvalidToken("This access token is DPoP-bound: use the DPoP scheme.")
            return
        if jkt is None:
            raise InvalidToken("This access token is not DPoP-bound: use the Bearer scheme.")
        if self._dpop is None or dpop is None:
            raise InvalidDpopProof("A DPoP proof is required.")
        proof = await self._dpop.check(
            dpop.headers, method=dpop.method, url=dpop.url, access_token=token
        )
        if proof.jkt != jkt:
            raise InvalidToken("The DPoP proof key is not the key this token is bound to.")

    async def _claims(
        self, token: str, scheme: str, dpop: DpopRequest | None, certificate: str | None
    ) -> tuple[str, dict[str, Any]]:
        found = await self._lookup.find(token, "access_token")
        if found is None or found.kind != "access_token" or not found.active:
            raise InvalidToken("The access token is invalid or expired.")
        cnf = found.claims.get("cnf")
        cnf = cnf if isinstance(cnf, dict) else {}
        x5t = cnf.get("x5t#S256")
        # RFC 8705 §3: a certificate-bound token comes over TLS with that certificate.
        if x5t is not None and (certificate is None or not compare_digest(certificate, str(x5t))):
            raise InvalidToken("This access token is bound to another client certificate.")
        await self._check_binding(token, cnf.get("jkt"), scheme, dpop)
        if found.jti is not None and await self._revoker.is_revoked(found.jti):
            raise InvalidToken("The access token has been revoked.")
        scopes = str(found.claims.get("scope", "")).split(" ")  # RFC 6749 §3.3: %x20 only
        if OPENID not in scopes:
            raise InsufficientScope("The access token lacks the openid scope.")
        user = await self._users.get_user(found.subject)
        client = await self._clients.get_client(found.client_id)
        if user is None or client is None:
            raise InvalidToken("The user or client of this token no longer exists.")
        # OIDC Core §5.3.2: "The sub Claim in the UserInfo Response MUST be verified to
        # exactly match the sub Claim in the ID Token".
        sub = self._subjects.for_client(client, user.user_id)
        return client.client_id, {"sub": sub, **user_claims(user, scopes)}
