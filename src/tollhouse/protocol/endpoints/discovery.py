"""RFC 8414 authorization server metadata and OpenID Connect Discovery 1.0 §3."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tollhouse.algorithms import CLIENT_ALGS, FAPI2_CLIENT_ALGS
from tollhouse.protocol.claims import SUPPORTED_CLAIMS
from tollhouse.protocol.pkce import SUPPORTED_METHODS
from tollhouse.protocol.scopes import IDP_SCOPES

ENDPOINT_PATHS = {
    "authorization_endpoint": "/authorize",
    "token_endpoint": "/token",
    "jwks_uri": "/jwks.json",
    "revocation_endpoint": "/revoke",
    "introspection_endpoint": "/introspect",
    "revocation_feed_endpoint": "/revocations",
    "userinfo_endpoint": "/userinfo",
    "end_session_endpoint": "/logout",
    "device_authorization_endpoint": "/device_authorization",
    "pushed_authorization_request_endpoint": "/par",
}
CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
"""Introspection takes the same but ``none``: only a confidential client may introspect."""
MTLS_AUTH_METHODS = ["tls_client_auth", "self_signed_tls_client_auth"]
"""RFC 8705 §2: offered when client certificates can reach the server."""


def metadata(
    *,
    issuer: str,
    scopes: Iterable[str],
    grant_types: Iterable[str],
    signing_algs: Iterable[str],
    ui_locales: Iterable[str] = ("en",),
    extra_endpoints: dict[str, str] | None = None,
    require_par: bool = False,
    fapi2: bool = False,
    dpop_algs: Iterable[str] = (),
    certificate_bound: bool = False,
    acr_values: Iterable[str] = (),
) -> dict[str, Any]:
    """The document served at both well-known locations.

    RFC 8414 §3.3: "The issuer value returned MUST be identical to the authorization
    server's issuer identifier value into which the well-known URI string was inserted".
    """
    endpoints = {**ENDPOINT_PATHS, **(extra_endpoints or {})}
    methods = _auth_methods(fapi2, certificate_bound)
    client_algs = list(FAPI2_CLIENT_ALGS if fapi2 else CLIENT_ALGS)
    algs = sorted(set(signing_algs))
    doc: dict[str, Any] = {"issuer": issuer}
    doc.update({name: issuer + path for name, path in endpoints.items()})
    doc.update(
        {
            "scopes_supported": sorted(set(scopes) | IDP_SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": sorted(set(grant_types)),
            "token_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_methods_supported": methods,
            "introspection_endpoint_auth_methods_supported": [m for m in methods if m != "none"],
            "token_endpoint_auth_signing_alg_values_supported": client_algs,
            "revocation_endpoint_auth_signing_alg_values_supported": client_algs,
            "introspection_endpoint_auth_signing_alg_values_supported": client_algs,
            "code_challenge_methods_supported": list(SUPPORTED_METHODS),
            "authorization_response_iss_parameter_supported": True,
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": algs,
            "access_token_signing_alg_values_supported": algs,
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
            "claims_supported": list(SUPPORTED_CLAIMS),
            "claim_types_supported": ["normal"],
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "frontchannel_logout_supported": False,
            "ui_locales_supported": list(ui_locales),
            "request_parameter_supported": True,
            "request_uri_parameter_supported": False,
            "request_object_signing_alg_values_supported": client_algs,
            "require_pushed_authorization_requests": require_par or fapi2,
            "claims_parameter_supported": False,
        }
    )
    doc.update(_optional(dpop_algs, certificate_bound, acr_values))
    return doc


def _optional(
    dpop_algs: Iterable[str], certificate_bound: bool, acr_values: Iterable[str]
) -> dict[str, Any]:
    """Members listed only when the feature is on: RFC 9449 §5.1, RFC 8705 §3.3, and the
    acr values a request may ask for (OIDC Discovery §3)."""
    optional: dict[str, Any] = {}
    if dpop_algs:
        optional["dpop_signing_alg_values_supported"] = list(dpop_algs)
    if certificate_bound:
        optional["tls_client_certificate_bound_access_tokens"] = True
    if acr_values:
        optional["acr_values_supported"] = list(acr_values)
    return optional


def _auth_methods(fapi2: bool, certificate_bound: bool) -> list[str]:
    """FAPI 2.0 (protocol/profile.py): private_key_jwt or mTLS only; mTLS whenever client
    certificates can reach the server."""
    if fapi2:
        return ["private_key_jwt", *MTLS_AUTH_METHODS] if certificate_bound else ["private_key_jwt"]
    methods = list(CLIENT_AUTH_METHODS)
    if certificate_bound:
        methods[-1:-1] = MTLS_AUTH_METHODS  # before "none"
    return methods


MTLS_ENDPOINTS = (
    "token_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "userinfo_endpoint",
    "device_authorization_endpoint",
    "pushed_authorization_request_endpoint",
)


def mtls_aliases(doc: dict[str, Any], issuer: str, base_url: str) -> dict[str, str]:
    """RFC 8705 §5 ``mtls_endpoint_aliases``: the same endpoints at the host/port where
    clients present certificates."""
    base = base_url.rstrip("/")
    return {
        name: base + doc[name][len(issuer) :]
        for name in MTLS_ENDPOINTS
        if isinstance(doc.get(name), str) and doc[name].startswith(issuer)
    }
