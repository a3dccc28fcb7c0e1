"""ID Tokens checked the way OpenID Connect Core §3.1.3.7 tells a relying party to:
nonce (replay), at_hash, aud/azp, and the alg the client registered.

The validator here is deliberately strict: joserfc verifies the signature with only
the expected alg, then Authlib's ``CodeIDToken`` and joserfc's claims registry check
iss, aud, exp, iat, nonce, azp and at_hash, and :func:`check_audiences` adds rule 4
(several audiences need an ``azp``), which Authlib leaves out.
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import pytest
from authlib.oidc.core import CodeIDToken
from joserfc import jws, jwt
from joserfc.errors import InvalidClaimError, MissingClaimError, UnsupportedAlgorithmError
from joserfc.jwk import ECKey, KeySet
from joserfc.jws import JWSRegistry

from tests.e2e.flows import exchange, pkce_pair
from tests.interop.conftest import CALLBACKS, SECRET, HttpsIdp


def code_flow(idp: HttpsIdp, client_id: str, nonce: str) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    redirect_uri = f"{CALLBACKS}/{client_id}/cb"
    params = {
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": "openid", "state": "st", "nonce": nonce,
        "code_challenge": challenge, "code_challenge_method": "S256",
    }  # fmt: skip
    url = str(idp.client().build_request("GET", "/authorize", params=params).url)
    callback = idp.sign_in(url)
    with idp.client() as http:
        response = exchange(
            http, callback.code, verifier=verifier, redirect_uri=redirect_uri,
            auth=(client_id, SECRET),
        )  # fmt: skip
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def check_audiences(claims: dict[str, Any], client_id: str) -> None:
    """OIDC Core §3.1.3.7 rules 3-5: aud contains the client; with several audiences
    ``azp`` must be there; if there, ``azp`` is the client."""
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if client_id not in audiences:
        raise InvalidClaimError("aud")
    if len(audiences) > 1 and "azp" not in claims:
        raise MissingClaimError("azp")
    if "azp" in claims and claims["azp"] != client_id:
        raise InvalidClaimError("azp")


def strict_validate(
    id_token: str,
    *,
    keys: KeySet,
    issuer: str,
    client_id: str,
    nonce: str,
    access_token: str | None,
    alg: str,
) -> dict[str, Any]:
    token = jwt.decode(id_token, keys, registry=JWSRegistry(algorithms=[alg]))
    claims = CodeIDToken(
        token.claims,
        token.header,
        {
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": client_id},
        },
        {"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    claims.validate(leeway=30)
    check_audiences(dict(claims), client_id)
    return dict(claims)


@pytest.fixture(scope="module")
def keys(https_idp: HttpsIdp) -> KeySet:
    with https_idp.client() as http:
        return KeySet.import_key_set(http.get("/jwks.json").json())


def test_each_id_token_carries_the_nonce_of_its_own_request(
    https_idp: HttpsIdp, keys: KeySet
) -> None:
    first = code_flow(https_idp, "rp-authlib", "nonce-one")
    second = code_flow(https_idp, "rp-authlib", "nonce-two")
    check = {"keys": keys, "issuer": https_idp.issuer, "client_id": "rp-authlib", "alg": "RS256"}
    assert (
        strict_validate(
            first["id_token"], nonce="nonce-one", access_token=first["access_token"], **check
        )["nonce"]
        == "nonce-one"
    )
    assert (
        strict_validate(
            second["id_token"], nonce="nonce-two", access_token=second["access_token"], **check
        )["nonce"]
        == "nonce-two"
    )
    # Replay: the first ID Token presented in the second sign-in fails the RP's check.
    with pytest.raises(InvalidClaimError, match="nonce"):
        strict_validate(first["id_token"], nonce="nonce-two", access_token=None, **check)


def test_at_hash_binds_the_id_token_to_its_access_token(https_idp: HttpsIdp, keys: KeySet) -> None:
    tokens = code_flow(https_idp, "rp-authlib", "nonce-at-hash")
    other = code_flow(https_idp, "rp-authlib", "nonce-other")
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()
    expected = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    check = {"keys": keys, "issuer": https_idp.issuer, "client_id": "rp-authlib", "alg": "RS256"}
    claims = strict_validate(
        tokens["id_token"], nonce="nonce-at-hash", access_token=tokens["access_token"], **check
    )
    assert claims["at_hash"] == expected
    with pytest.raises(InvalidClaimError, match="at_hash"):
        strict_validate(
            tokens["id_token"], nonce="nonce-at-hash", access_token=other["access_token"], **check
        )


def test_single_audience_with_azp_passes_a_strict_validator(
    https_idp: HttpsIdp, keys: KeySet
) -> None:
    """Our ID Tokens have one audience (the client) and ``azp`` = the client."""
    tokens = code_flow(https_idp, "rp-authlib", "nonce-aud")
    claims = strict_validate(
        tokens["id_token"], keys=keys, issuer=https_idp.issuer, client_id="rp-authlib",
        nonce="nonce-aud", access_token=tokens["access_token"], alg="RS256",
    )  # fmt: skip
    assert claims["aud"] == "rp-authlib" and claims["azp"] == "rp-authlib"
    # The same validator refuses another client's token...
    with pytest.raises(InvalidClaimError, match="aud"):
        strict_validate(
            tokens["id_token"], keys=keys, issuer=https_idp.issuer, client_id="rp-es256",
            nonce="nonce-aud", access_token=None, alg="RS256",
        )  # fmt: skip


def test_several_audiences_need_an_azp_naming_the_client() -> None:
    """Rule 4-5 of §3.1.3.7 in the validator above, on tokens we sign here (Tollhouse
    never issues several audiences): what makes its acceptance of ours meaningful."""
    key = ECKey.generate_key("P-256", auto_kid=True)
    now = int(time.time())
    base = {"iss": "https://idp.test", "sub": "u", "exp": now + 60, "iat": now, "nonce": "n"}

    def validate(**claims: Any) -> None:
        token = jwt.encode({"alg": "ES256"}, {**base, **claims}, key)
        strict_validate(
            token, keys=KeySet([key]), issuer="https://idp.test", client_id="rp",
            nonce="n", access_token=None, alg="ES256",
        )  # fmt: skip

    validate(aud=["rp", "api"], azp="rp")
    with pytest.raises(MissingClaimError, match="azp"):
        validate(aud=["rp", "api"])
    with pytest.raises(InvalidClaimError, match="azp"):
        validate(aud=["rp", "api"], azp="api")


def test_id_token_alg_is_the_one_the_client_registered(https_idp: HttpsIdp, keys: KeySet) -> None:
    default = code_flow(https_idp, "rp-authlib", "nonce-rs")
    es256 = code_flow(https_idp, "rp-es256", "nonce-es")
    assert jws.extract_compact(default["id_token"].encode()).protected["alg"] == "RS256"
    assert jws.extract_compact(es256["id_token"].encode()).protected["alg"] == "ES256"
    strict_validate(
        es256["id_token"], keys=keys, issuer=https_idp.issuer, client_id="rp-es256",
        nonce="nonce-es", access_token=es256["access_token"], alg="ES256",
    )  # fmt: skip
    with pytest.raises(UnsupportedAlgorithmError):
        strict_validate(
            es256["id_token"], keys=keys, issuer=https_idp.issuer, client_id="rp-es256",
            nonce="nonce-es", access_token=None, alg="RS256",
        )  # fmt: skip
