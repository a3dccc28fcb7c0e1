"""The response bodies the OpenAPI document (web/openapi.py) names under
``components/schemas``: RFC 6749 §5.1/§5.2, RFC 7662 §2.2, RFC 7517 §5, RFC 8414 §2."""

from __future__ import annotations

from typing import Any

SCHEMAS: dict[str, Any] = {
    "OAuthError": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "pattern": "^[\\x20-\\x21\\x23-\\x5B\\x5D-\\x7E]+$"},
            "error_description": {"type": "string"},
            "error_uri": {"type": "string"},
        },
    },
    "TokenResponse": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string"},
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": {"type": "integer", "minimum": 1},
            "refresh_token": {"type": "string"},
            "scope": {"type": "string"},
            "id_token": {"type": "string"},
        },
    },
    "IntrospectionResponse": {
        "type": "object",
        "required": ["active"],
        "properties": {
            "active": {"type": "boolean"},
            "scope": {"type": "string"},
            "client_id": {"type": "string"},
            "sub": {"type": "string"},
            "aud": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "iss": {"type": "string"},
            "exp": {"type": "integer"},
            "iat": {"type": "integer"},
            "nbf": {"type": "integer"},
            "jti": {"type": "string"},
            "token_type": {"type": "string"},
        },
    },
    "JwkSet": {
        "type": "object",
        "required": ["keys"],
        "properties": {
            "keys": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kty", "kid", "alg", "use"],
                    "properties": {
                        "kty": {"type": "string", "enum": ["EC", "RSA", "OKP"]},
                        "kid": {"type": "string"},
                        "alg": {"type": "string"},
                        "use": {"type": "string", "enum": ["sig"]},
                    },
                    "not": {"anyOf": [{"required": [m]} for m in ("d", "p", "q", "dp", "dq")]},
                },
            }
        },
    },
    "ClientMetadata": {
        "type": "object",
        "properties": {
            "redirect_uris": {"type": "array", "items": {"type": "string"}},
            "client_name": {"type": "string"},
            "grant_types": {"type": "array", "items": {"type": "string"}},
            "response_types": {"type": "array", "items": {"type": "string"}},
            "token_endpoint_auth_method": {"type": "string"},
            "scope": {"type": "string"},
        },
    },
    "ClientInformation": {
        "type": "object",
        "required": ["client_id", "registration_access_token", "registration_client_uri"],
        "properties": {
            "client_id": {"type": "string"},
            "client_secret": {"type": "string"},
            "client_id_issued_at": {"type": "integer"},
            "client_secret_expires_at": {"type": "integer"},
            "registration_access_token": {"type": "string"},
            "registration_client_uri": {"type": "string"},
            "redirect_uris": {"type": "array", "items": {"type": "string"}},
            "grant_types": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Metadata": {
        "type": "object",
        "required": [
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "response_types_supported",
        ],
        "properties": {
            "issuer": {"type": "string"},
            "authorization_endpoint": {"type": "string"},
            "token_endpoint": {"type": "string"},
            "jwks_uri": {"type": "string"},
            "response_types_supported": {"type": "array", "items": {"type": "string"}},
        },
    },
}
