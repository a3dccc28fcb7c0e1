"""A small OpenID Connect relying party for a confidential, server-side web client.

Written out by hand so the demo shows every check a relying party owes the IdP; the
interoperability tests run Authlib and openid-client against the same IdP. Each step
names its specification:

- discovery (OIDC Discovery 1.0 §4),
- the authorization request with PKCE S256 (RFC 7636), ``state`` (RFC 6749 §10.12,
  RFC 9700 §4.7) and ``nonce`` (OIDC Core §3.1.2.1),
- the authorization response, ``iss`` included (RFC 9207),
- the code exchange with ``client_secret_basic`` (RFC 6749 §2.3.1, §4.1.3),
- ID Token validation (OIDC Core §3.1.3.7) with keys from the IdP's JWKS,
- refresh with rotation (RFC 6749 §6, OIDC Core §12.2),
- userinfo (OIDC Core §5.3), revocation (RFC 7009), RP-initiated logout.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

log = logging.getLogger("demo.oidc")

ASYMMETRIC_ALGS = ("RS256", "ES256", "EdDSA")
"""Never ``none`` and never HMAC: an ID Token must be signed with one of the IdP's keys."""
LEEWAY = 30
"""Seconds of clock skew tolerated on exp and iat (the IdP runs on the same host)."""
JWKS_REFETCH_INTERVAL = 10.0
_HASHES = {"RS256": hashlib.sha256, "ES256": hashlib.sha256, "EdDSA": hashlib.sha512}


class LoginError(Exception):
    """The sign-in cannot finish; ``str()`` is safe to show to the user."""


class RefreshFailed(Exception):
    """The refresh token was refused (expired, revoked, replayed): sign in again."""


@dataclass(frozen=True)
class PendingLogin:
    """What the client remembers between the redirect to the IdP and the callback."""

    state: str
    nonce: str
    code_verifier: str
    created_at: float


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_at: float
    """When the access token expires (``time.time()`` scale)."""
    lifetime: float
    id_token: str
    id_claims: dict[str, Any]
    scope: str


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier)))."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def left_hash(value: str, alg: str) -> str:
    """OIDC Core §3.1.3.6 at_hash: the left half of the hash, base64url."""
    digest = _HASHES[alg](value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def basic_auth(client_id: str, client_secret: str) -> str:
    """RFC 6749 §2.3.1: "The client identifier is encoded using the
    application/x-www-form-urlencoded encoding algorithm", and so is the password."""
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


class RelyingParty:
    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        scope: str,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self._auth = basic_auth(client_id, client_secret)
        self.redirect_uri = redirect_uri
        self.scope = scope
        self._http = http or httpx.AsyncClient(timeout=10, follow_redirects=False)
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._keys_fetched = 0.0
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        await self._http.aclose()

    # -- discovery and keys --------------------------------------------------------

    async def metadata(self) -> dict[str, Any]:
        """OIDC Discovery §4: fetched once; "the issuer value returned MUST be identical
        to the Issuer URL that was used as the prefix to /.well-known/openid-configuration"
        (§4.3)."""
        async with self._lock:
            if self._metadata is None:
                url = f"{self.issuer}/.well-known/openid-configuration"
                response = await self._http.get(url)
                response.raise_for_status()
                metadata = response.json()
                if metadata.get("issuer") != self.issuer:
                    raise LoginError("The identity provider's discovery names another issuer.")
                self._metadata = metadata
            return self._metadata

    async def _key_set(self, *, refetch: bool = False) -> KeySet:
        async with self._lock:
            too_soon = time.monotonic() - self._keys_fetched < JWKS_REFETCH_INTERVAL
            if self._keys is None or (refetch and not too_soon):
                assert self._metadata is not None
                response = await self._http.get(self._metadata["jwks_uri"])
                response.raise_for_status()
                self._keys = KeySet.import_key_set(response.json())
                self._keys_fetched = time.monotonic()
            return self._keys

    # -- the authorization request -------------------------------------------------

    async def authorization_url(
        self, extra: dict[str, str] | None = None
    ) -> tuple[str, PendingLogin]:
        """``extra``: more parameters, such as RFC 9470 step-up's ``acr_values`` and
        ``max_age``."""
        metadata = await self.metadata()
        pending = PendingLogin(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            code_verifier=secrets.token_urlsafe(48),  # RFC 7636 §4.1: 43-128 characters
            created_at=time.time(),
        )
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": s256(pending.code_verifier),
            "code_challenge_method": "S256",
            **(extra or {}),
        }
        return f"{metadata['authorization_endpoint']}?{urlencode(query)}", pending

    # -- the authorization response and the code exchange ---------------------------

    async def finish_login(self, params: dict[str, str], pending: PendingLogin) -> TokenSet:
        metadata = await self.metadata()
        # RFC 6749 §10.12: the state binds the response to this browser's request.
        if not hmac.compare_digest(params.get("state", ""), pending.state):
            raise LoginError("The sign-in response does not belong to this browser session.")
        # RFC 9207 §2.4: "clients MUST ... compare the iss parameter value to the issuer";
        # the IdP advertises authorization_response_iss_parameter_supported, so it is
        # required (a mix-up defence).
        iss_required = metadata.get("authorization_response_iss_parameter_supported")
        if iss_required and params.get("iss") != self.issuer:
            raise LoginError("The sign-in response comes from another issuer.")
        if "error" in params:
            if params["error"] == "access_denied":
                raise LoginError("Access was not granted.")
            raise LoginError(f"The identity provider refused the sign-in ({params['error']}).")
        code = params.get("code")
        if not code:
            raise LoginError("The sign-in response carries no authorization code.")
        body = await self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": pending.code_verifier,
            }
        )
        if body is None:
            raise LoginError("The identity provider refused the authorization code.")
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            # OIDC Core §3.1.3.3: the token response to an openid request has an ID Token.
            raise LoginError("The identity provider sent no ID Token.")
        claims = await self.validate_id_token(
            id_token, nonce=pending.nonce, access_token=body["access_token"]
        )
        return self._token_set(body, id_token, claims, previous_refresh=None)

    async def _token_request(self, form: dict[str, str]) -> dict[str, Any] | None:
        """POST /token; None for an RFC 6749 §5.2 error (logged), raises on anything else."""
        metadata = await self.metadata()
        response = await self._http.post(
            metadata["token_endpoint"],
            data=form,
            headers={"Authorization": self._auth, "Accept": "application/json"},
        )
        if response.status_code in (400, 401):
            error = response.json().get("error", "?") if response.content else "?"
            log.warning("token endpoint refused %s: %s", form["grant_type"], error)
            return None
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        # RFC 6749 §5.1: access_token and token_type are REQUIRED; RFC 6750 is "Bearer".
        if not isinstance(body.get("access_token"), str):
            raise LoginError("The token response carries no access token.")
        if str(body.get("token_type", "")).lower() != "bearer":
            raise LoginError("The token response is not for a Bearer token.")
        return body

    def _token_set(
        self,
        body: dict[str, Any],
        id_token: str,
        claims: dict[str, Any],
        previous_refresh: str | None,
    ) -> TokenSet:
        lifetime = float(body.get("expires_in", 300))
        refresh = body.get("refresh_token")
        return TokenSet(
            access_token=body["access_token"],
            # RFC 6749 §6: the server MAY issue a new refresh token; when it does, "the
            # client MUST discard the old refresh token" (Tollhouse always rotates).
            refresh_token=refresh if isinstance(refresh, str) else previous_refresh,
            expires_at=time.time() + lifetime,
            lifetime=lifetime,
            id_token=id_token,
            id_claims=claims,
            scope=str(body.get("scope", self.scope)),
        )

    # -- ID Token validation -------------------------------------------------------

    async def _verify_signature(self, id_token: str) -> tuple[str, dict[str, Any]]:
        metadata = await self.metadata()
        advertised = metadata.get("id_token_signing_alg_values_supported", ["RS256"])
        algorithms = [alg for alg in ASYMMETRIC_ALGS if alg in advertised]
        for attempt in range(2):  # one re-fetch of the JWKS for a rotated key
            keys = await self._key_set(refetch=attempt > 0)
            try:
                token = jwt.decode(id_token, keys, algorithms=algorithms)
            except JoseError as exc:
                log.info("ID Token signature check failed: %s", exc.error)
                continue
            return str(token.header["alg"]), dict(token.claims)
        raise LoginError("The ID Token's signature does not verify with the IdP's keys.")

    async def validate_id_token(
        self, id_token: str, *, nonce: str | None, access_token: str | None
    ) -> dict[str, Any]:
        """OIDC Core §3.1.3.7, in its order; returns the claims."""
        alg, claims = await self._verify_signature(id_token)  # §3.1.3.7 step 6
        now = time.time()
        # Step 2: "The Issuer Identifier ... MUST exactly match the value of the iss".
        if claims.get("iss") != self.issuer:
            raise LoginError("The ID Token was issued by another issuer.")
        # Step 3: "MUST validate that the aud Claim contains its client_id".
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.client_id not in audiences:
            raise LoginError("The ID Token is meant for another client.")
        # Steps 4-5: several audiences need an azp, and it must be us.
        if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != self.client_id:
            raise LoginError("The ID Token was issued to another party (azp).")
        # Step 9: "The current time MUST be before the time represented by the exp Claim".
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or now > exp + LEEWAY:
            raise LoginError("The ID Token has expired.")
        # Step 10: iat "can be used to reject tokens that were issued too far away from
        # the current time".
        if not isinstance(iat, int | float) or iat > now + LEEWAY:
            raise LoginError("The ID Token was issued in the future.")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise LoginError("The ID Token names no subject.")
        # Step 11: "the Client MUST check that a nonce Claim Value is present and that
        # its value matches the value of the nonce parameter sent".
        if nonce is not None and not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            raise LoginError("The ID Token's nonce does not match this sign-in.")
        # §3.1.3.8: at_hash, when present, binds the access token to the ID Token.
        if access_token is not None and "at_hash" in claims:
            expected = left_hash(access_token, alg)
            if not hmac.compare_digest(str(claims["at_hash"]), expected):
                raise LoginError("The ID Token's at_hash does not match the access token.")
        return claims

    # -- refresh, userinfo, revocation, logout -----------------------------------

    async def refresh(self, tokens: TokenSet) -> TokenSet:
        """RFC 6749 §6 with the rotated refresh token kept (OIDC Core §12)."""
        if tokens.refresh_token is None:
            raise RefreshFailed("no refresh token")
        body = await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
        )
        if body is None:
            raise RefreshFailed("the refresh token was refused")
        id_token, claims = tokens.id_token, tokens.id_claims
        new_id_token = body.get("id_token")
        if isinstance(new_id_token, str):
            fresh = await self.validate_id_token(
                new_id_token, nonce=None, access_token=body["access_token"]
            )
            # OIDC Core §12.2: "its sub Claim Value MUST be the same as in the ID Token
            # issued when the original authentication occurred" (iss and aud checked above).
            if fresh.get("sub") != claims.get("sub"):
                raise RefreshFailed("the refreshed ID Token names another subject")
            id_token, claims = new_id_token, fresh
        return self._token_set(body, id_token, claims, previous_refresh=tokens.refresh_token)

    async def userinfo(self, tokens: TokenSet) -> dict[str, Any]:
        metadata = await self.metadata()
        response = await self._http.get(
            metadata["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {tokens.access_token}"},
        )
        response.raise_for_status()
        info: dict[str, Any] = response.json()
        # OIDC Core §5.3.2: "The sub Claim in the UserInfo Response MUST be verified to
        # exactly match the sub Claim in the ID Token; if they do not match, the UserInfo
        # Response values MUST NOT be used."
        if info.get("sub") != tokens.id_claims.get("sub"):
            raise LoginError("The userinfo response names another subject.")
        return info

    async def revoke(self, token: str, hint: str) -> None:
        """RFC 7009 §2.1; failures are logged only: the session ends either way."""
        metadata = await self.metadata()
        endpoint = metadata.get("revocation_endpoint")
        if not endpoint:
            return
        try:
            response = await self._http.post(
                endpoint,
                data={"token": token, "token_type_hint": hint},
                headers={"Authorization": self._auth},
            )
            if response.status_code != 200:
                log.warning("revocation of a %s answered %s", hint, response.status_code)
        except httpx.HTTPError as exc:
            log.warning("revocation of a %s failed: %s", hint, exc)

    async def end_session_url(
        self, id_token: str | None, post_logout_redirect_uri: str, state: str
    ) -> str | None:
        """OIDC RP-Initiated Logout 1.0 §2; None if the IdP offers no end_session_endpoint."""
        metadata = await self.metadata()
        endpoint = metadata.get("end_session_endpoint")
        if not endpoint:
            return None
        query = {
            "client_id": self.client_id,
            "post_logout_redirect_uri": post_logout_redirect_uri,
            "state": state,
        }
        if id_token:
            query["id_token_hint"] = id_token
        return f"{endpoint}?{urlencode(query)}"
