"""Authlib's OpenID Connect client (the code its Flask/Django/Starlette integrations
run) as the relying party: discovery, PKCE S256, the code exchange with
client_secret_basic, ID Token validation with its defaults, userinfo."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.base_client.sync_app import BaseApp, OAuth2Mixin
from authlib.integrations.base_client.sync_openid import OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT

from tests.interop.conftest import CALLBACKS, CLIENT_KEY, SECRET, USERNAME, HttpsIdp, serve_https


class NoFramework:
    """Authlib's web-framework hooks; this RP keeps its state in local variables."""

    def update_token(self, token: dict[str, Any], **kwargs: Any) -> None:
        return None


class AuthlibRelyingParty(OAuth2Mixin, OpenIDMixin, BaseApp):  # type: ignore[misc]
    client_cls = OAuth2Session


def relying_party(idp: HttpsIdp, client_id: str) -> AuthlibRelyingParty:
    return AuthlibRelyingParty(
        NoFramework(),
        name=client_id,
        client_id=client_id,
        client_secret=SECRET,
        server_metadata_url=f"{idp.issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": "openid profile email",
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_basic",
        },
    )


def test_authlib_relying_party_signs_in_with_strict_defaults(
    https_idp: HttpsIdp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(https_idp.ca_file))
    rp = relying_party(https_idp, "rp-authlib")
    redirect_uri = f"{CALLBACKS}/rp-authlib/cb"
    started = rp.create_authorization_url(redirect_uri=redirect_uri)
    assert {"url", "state", "code_verifier", "nonce"} <= set(started)
    assert "code_challenge_method=S256" in started["url"]

    callback = https_idp.sign_in(started["url"])
    assert callback.params["state"] == started["state"]
    # RFC 9207: the response names the issuer the RP discovered.
    assert callback.params["iss"] == rp.load_server_metadata()["issuer"] == https_idp.issuer

    token = rp.fetch_access_token(
        redirect_uri=redirect_uri,
        code=callback.code,
        code_verifier=started["code_verifier"],
    )
    # Signature against the JWKS, iss, aud, exp, iat, nonce, azp and at_hash.
    claims = rp.parse_id_token(token, nonce=started["nonce"])
    assert claims["sub"] == "erin-id" and claims["aud"] == "rp-authlib"
    assert claims["azp"] == "rp-authlib" and claims["nonce"] == started["nonce"]

    info = rp.userinfo(token=token)
    assert info["sub"] == claims["sub"]
    assert info["preferred_username"] == USERNAME and info["email"] == "erin@example.test"
    assert info["email_verified"] is True and info["name"] == "Erin Example"


def test_authlib_refuses_an_id_token_for_another_nonce(
    https_idp: HttpsIdp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replayed ID Token (from another authorization) fails the RP's nonce check."""
    from joserfc.errors import InvalidClaimError

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(https_idp.ca_file))
    rp = relying_party(https_idp, "rp-authlib")
    redirect_uri = f"{CALLBACKS}/rp-authlib/cb"
    started = rp.create_authorization_url(redirect_uri=redirect_uri)
    callback = https_idp.sign_in(started["url"])
    token = rp.fetch_access_token(
        redirect_uri=redirect_uri, code=callback.code, code_verifier=started["code_verifier"]
    )
    with pytest.raises(InvalidClaimError):
        rp.parse_id_token(token, nonce="the nonce of another authorization request")


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):  # type: ignore[misc]
    """Authlib's private_key_jwt with a 60 s assertion and a fresh jti each time.

    As shipped, Authlib dates its assertions an hour ahead (``expires_in`` 3600), which
    Tollhouse refuses (at most 5 minutes), and keeps the first ``jti`` once ``claims``
    are given (it writes the jti into that dict)."""

    def sign(self, auth: Any, token_endpoint: str) -> str:
        now = int(time.time())
        self.claims = {"exp": now + 60, "jti": secrets.token_urlsafe(24)}
        signed: str = super().sign(auth, token_endpoint)
        return signed


def test_authlib_authenticates_with_private_key_jwt(
    https_idp: HttpsIdp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Authlib's RFC 7523 client authentication: its assertion's aud is the token
    endpoint URL, which Tollhouse accepts outside the FAPI profile."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(https_idp.ca_file))
    token_endpoint = f"{https_idp.issuer}/token"

    def session(auth: PrivateKeyJWT) -> OAuth2Session:
        return OAuth2Session("rp-authlib-key", CLIENT_KEY, token_endpoint_auth_method=auth)

    short = ShortLivedPrivateKeyJWT(token_endpoint, alg="ES256")
    for _ in range(2):  # a new assertion each time
        token = session(short).fetch_token(token_endpoint, grant_type="client_credentials")
        assert token["token_type"].lower() == "bearer" and token["access_token"]
    with pytest.raises(OAuthError, match="more than 300 seconds ahead"):
        session(PrivateKeyJWT(token_endpoint, alg="ES256")).fetch_token(
            token_endpoint, grant_type="client_credentials"
        )


def test_authlib_private_key_jwt_as_shipped_with_hour_long_assertions_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Authlib's PrivateKeyJWT, unmodified, dates each assertion an hour ahead with a new
    jti: a server with TOLLHOUSE_CLIENT_ASSERTION_MAX_LIFETIME=3600 accepts it, each jti
    once (docs/client-authentication.md)."""
    env = {"TOLLHOUSE_CLIENT_ASSERTION_MAX_LIFETIME": "3600"}
    with serve_https(tmp_path, env) as idp:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(idp.ca_file))
        token_endpoint = f"{idp.issuer}/token"
        auth = PrivateKeyJWT(token_endpoint, alg="ES256")
        for _ in range(2):
            session = OAuth2Session("rp-authlib-key", CLIENT_KEY, token_endpoint_auth_method=auth)
            token = session.fetch_token(token_endpoint, grant_type="client_credentials")
            assert token["token_type"].lower() == "bearer" and token["access_token"]
