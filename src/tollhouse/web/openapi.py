"""OpenAPI 3.1 description of the JSON endpoints, served at ``GET /openapi.json``.

Hand-written data, not generated from the routes (but for the ``/token`` form, built
from the grants' own parameter lists): it is the documented surface that the
schemathesis run in ``tests/fuzz`` holds the server to (status codes, content types and
response shapes). ``/authorize``, ``/login``, ``/consent`` and ``/device`` are browser
pages and are not described. Error bodies are RFC 6749 §5.2; token responses RFC 6749
§5.1; device authorization RFC 8628 §3.2; introspection RFC 7662 §2.2; revocation
RFC 7009 §2.2; the JWK Set RFC 7517 §5; metadata RFC 8414 §2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tollhouse.protocol.grants import Grant
from tollhouse.protocol.grants.authorization_code import AuthorizationCodeGrant
from tollhouse.protocol.grants.client_credentials import ClientCredentialsGrant
from tollhouse.protocol.grants.device_code import DeviceCodeGrant
from tollhouse.protocol.grants.refresh_token import RefreshTokenGrant
from tollhouse.web.openapi_schemas import SCHEMAS

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(description: str, *, challenge: bool = False, retry: bool = False) -> dict[str, Any]:
    response = _json(description, _ref("OAuthError"))
    headers: dict[str, Any] = {}
    if challenge:
        headers["WWW-Authenticate"] = {
            "description": "RFC 6749 §5.2: the scheme the client should authenticate with.",
            "schema": {"type": "string"},
        }
    if retry:
        headers["Retry-After"] = {
            "description": "Seconds to wait (RFC 9110 §10.2.3).",
            "schema": {"type": "string"},
        }
    if headers:
        response["headers"] = headers
    return response


def _form(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {"required": True, "content": {FORM: {"schema": schema}}}


_STRING = {"type": "string", "maxLength": 4096}
_CLIENT_AUTH = {
    "client_id": _STRING,
    "client_secret": _STRING,
    "client_assertion_type": {
        "type": "string",
        "enum": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"],
    },
    "client_assertion": {"type": "string", "maxLength": 16384},
}
_CLIENT_ERRORS = {
    "400": _error("RFC 6749 §5.2 error (invalid_request, invalid_grant, …)."),
    "401": _error("invalid_client: client authentication failed.", challenge=True),
    "429": _error("Rate limit reached (slow_down).", retry=True),
}
_SECURITY: list[dict[str, list[str]]] = [{"clientSecretBasic": []}, {}]
"""HTTP Basic (client_secret_basic), or credentials in the form body (client_secret_post,
private_key_jwt's client_assertion, or a bare client_id: a public client's, or a
tls_client_auth / self_signed_tls_client_auth client's, whose TLS certificate
authenticates it)."""

GRANTS: tuple[type[Grant], ...] = (
    AuthorizationCodeGrant,
    RefreshTokenGrant,
    ClientCredentialsGrant,
    DeviceCodeGrant,
)
"""The grants ``/token`` serves (RFC 6749 §4); its form is built from their metadata."""


def token_form(grants: Sequence[type[Grant]]) -> dict[str, Any]:
    """The ``/token`` request body: ``grant_type``, every grant's own ``parameters``
    (RFC 6749 §4.1.3, §4.4.2, §6; RFC 7636 §4.5; RFC 8707 §2.2) and client credentials."""
    parameters = dict.fromkeys(name for grant in grants for name in grant.parameters)
    grant_type = {"type": "string", "examples": [str(grant.grant_type) for grant in grants]}
    return _form(
        {"grant_type": grant_type, **dict.fromkeys(parameters, _STRING), **_CLIENT_AUTH},
        ["grant_type"],
    )


_TOKEN_HINT = {"type": "string", "examples": ["access_token", "refresh_token"]}
_DPOP_HEADER = {
    "name": "DPoP",
    "in": "header",
    "required": False,
    "schema": _STRING,
    "description": "RFC 9449 proof: the tokens are bound to its key (token_type DPoP); "
    "400 invalid_dpop_proof, or use_dpop_nonce with a DPoP-Nonce header.",
}
_DEVICE_RESPONSE = {
    "type": "object",
    "required": ["device_code", "user_code", "verification_uri", "expires_in"],
    "properties": {
        "device_code": _STRING,
        "user_code": _STRING,
        "verification_uri": _STRING,
        "verification_uri_complete": _STRING,
        "expires_in": {"type": "integer"},
        "interval": {"type": "integer"},
    },
}

PATHS: dict[str, Any] = {
    "/token": {
        "post": {
            "operationId": "token",
            "summary": "RFC 6749 §3.2 token endpoint",
            "security": _SECURITY,
            "parameters": [_DPOP_HEADER],
            "requestBody": token_form(GRANTS),
            "responses": {"200": _json("Tokens (RFC 6749 §5.1).", _ref("TokenResponse"))}
            | _CLIENT_ERRORS,
        }
    },
    "/device_authorization": {
        "post": {
            "operationId": "device_authorization",
            "summary": "RFC 8628 §3.1 device authorization",
            "security": _SECURITY,
            "requestBody": _form({"scope": _STRING, "resource": _STRING, **_CLIENT_AUTH}, []),
            "responses": {"200": _json("RFC 8628 §3.2.", _DEVICE_RESPONSE)} | _CLIENT_ERRORS,
        }
    },
    "/revoke": {
        "post": {
            "operationId": "revoke",
            "summary": "RFC 7009 token revocation",
            "security": _SECURITY,
            "requestBody": _form(
                {"token": _STRING, "token_type_hint": _TOKEN_HINT, **_CLIENT_AUTH}, ["token"]
            ),
            "responses": {
                "200": _json(
                    "Revoked, or the token was invalid (RFC 7009 §2.2).",
                    {"type": "object", "maxProperties": 0},
                )
            }
            | _CLIENT_ERRORS,
        }
    },
    "/par": {
        "post": {
            "operationId": "par",
            "summary": "RFC 9126 pushed authorization request",
            "security": _SECURITY,
            "requestBody": _form(
                {
                    "response_type": _STRING,
                    "redirect_uri": _STRING,
                    "scope": _STRING,
                    "state": _STRING,
                    "code_challenge": _STRING,
                    "code_challenge_method": _STRING,
                    "request": _STRING,
                    **_CLIENT_AUTH,
                },
                [],
            ),
            "responses": {
                "201": _json(
                    "The request_uri for /authorize (RFC 9126 §2.2).",
                    {
                        "type": "object",
                        "required": ["request_uri", "expires_in"],
                        "properties": {
                            "request_uri": {"type": "string"},
                            "expires_in": {"type": "integer"},
                        },
                    },
                )
            }
            | _CLIENT_ERRORS,
        }
    },
    "/introspect": {
        "post": {
            "operationId": "introspect",
            "summary": "RFC 7662 token introspection",
            "security": [{"clientSecretBasic": []}, {}],
            "requestBody": _form(
                {"token": _STRING, "token_type_hint": _TOKEN_HINT, **_CLIENT_AUTH}, ["token"]
            ),
            "responses": {"200": _json("RFC 7662 §2.2.", _ref("IntrospectionResponse"))}
            | _CLIENT_ERRORS,
        }
    },
    "/register": {
        "post": {
            "operationId": "register",
            "summary": "RFC 7591 dynamic client registration",
            "security": [{"initialAccessToken": []}, {}],
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": _ref("ClientMetadata")}},
            },
            "responses": {
                "201": _json("Registered (RFC 7591 §3.2.1).", _ref("ClientInformation")),
                "400": _error("invalid_client_metadata, invalid_redirect_uri, invalid_request."),
                "401": _error(
                    "invalid_token: the initial access token is missing or used up.",
                    challenge=True,
                ),
                "403": _error("access_denied: registration is turned off."),
                "429": _CLIENT_ERRORS["429"],
            },
        }
    },
    "/revocations": {
        "get": {
            "operationId": "revocations",
            "summary": "Signed feed of revoked access token jtis",
            "security": [{"clientSecretBasic": []}],
            "parameters": [{"name": "since", "in": "query", "required": False, "schema": _STRING}],
            "responses": {
                "200": {
                    "description": "A compact JWS, typ revocations+jwt.",
                    "content": {"application/jwt": {}},
                },
                **_CLIENT_ERRORS,
            },
        }
    },
    "/jwks.json": {
        "get": {
            "operationId": "jwks",
            "summary": "RFC 7517 JWK Set of the signing keys",
            "responses": {"200": _json("Public keys only.", _ref("JwkSet"))},
        }
    },
    "/.well-known/openid-configuration": {
        "get": {
            "operationId": "openidConfiguration",
            "summary": "OpenID Connect Discovery 1.0 §4",
            "responses": {"200": _json("Provider metadata.", _ref("Metadata"))},
        }
    },
    "/.well-known/oauth-authorization-server": {
        "get": {
            "operationId": "authorizationServerMetadata",
            "summary": "RFC 8414 §3",
            "responses": {"200": _json("Authorization server metadata.", _ref("Metadata"))},
        }
    },
    "/healthz": {
        "get": {
            "operationId": "healthz",
            "summary": "The process is up",
            "responses": {
                "200": _json(
                    "Up.",
                    {
                        "type": "object",
                        "required": ["status"],
                        "properties": {"status": {"const": "ok"}},
                    },
                )
            },
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "responses": {"200": _json("OpenAPI 3.1.", {"type": "object"})},
        }
    },
}


_CONNECTION_REFUSALS = {
    str(status): {
        "description": f"{reason} Refused before any endpoint by the connection limits "
        "(docs/deployment.md); plain text.",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
    for status, reason in (
        (413, "A body over 1 MiB."),
        (414, "A request line over TOLLHOUSE_MAX_HEADER_BYTES."),
        (431, "A header block over TOLLHOUSE_MAX_HEADER_BYTES."),
    )
}


def _with_connection_refusals(paths: dict[str, Any]) -> dict[str, Any]:
    """Every operation may meet the connection limits' answers (web/connection_limits.py)."""
    return {
        path: {
            method: {**operation, "responses": operation["responses"] | _CONNECTION_REFUSALS}
            for method, operation in operations.items()
        }
        for path, operations in paths.items()
    }


def document(issuer: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for a server at ``issuer``."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tollhouse",
            "version": version,
            "description": "The JSON endpoints of a Tollhouse OAuth 2.0 / OpenID Connect "
            "provider. Browser pages (/authorize, /login, /consent) are not described.",
        },
        "servers": [{"url": issuer}],
        "paths": _with_connection_refusals(PATHS),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "clientSecretBasic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "RFC 6749 §2.3.1: form-urlencoded client_id:client_secret.",
                },
                "initialAccessToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "RFC 7591 §3: from `tollhouse registration-token create`.",
                },
            },
        },
    }
