"""Authlib's OpenID Connect client (the code its Flask/Django/Starlette integrations
run) as the relying party: discovery, PKCE S256, the code exchange with
client_secret_basic, ID Token validation with its defaults, userinfo."""

from __future__ import annotations

from typing import Any

import pytest
from authlib.integrations.base_client.sync_app import BaseApp, OAuth2Mixin
from authlib.integrations.base_client.sync_openid import OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session

from tests.interop.conftest import CALLBACKS, SECRET, USERNAME, HttpsIdp


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
