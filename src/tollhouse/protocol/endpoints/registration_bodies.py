"""The bodies of RFC 7591 registration and RFC 7592 management: the request's JSON
read into storable text, the metadata applied to a client, the information response."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TypedDict

from tollhouse.errors import InvalidClientMetadata
from tollhouse.models import Client
from tollhouse.protocol import client_metadata
from tollhouse.protocol.client_metadata import ClientMetadata


class ClientInformation(TypedDict, total=False):
    """RFC 7591 §3.2.1 / RFC 7592 §3 client information response."""

    client_id: str
    client_id_issued_at: int
    client_secret: str
    client_secret_expires_at: int
    registration_access_token: str
    registration_client_uri: str
    client_name: str
    redirect_uris: list[str]
    grant_types: list[str]
    response_types: list[str]
    token_endpoint_auth_method: str
    scope: str
    post_logout_redirect_uris: list[str]
    backchannel_logout_uri: str
    id_token_signed_response_alg: str
    subject_type: str
    allowed_cors_origins: list[str]
    jwks: dict[str, Any]
    jwks_uri: str
    require_pushed_authorization_requests: bool
    require_signed_request_object: bool
    dpop_bound_access_tokens: bool
    tls_client_auth_subject_dn: str
    tls_client_auth_san_dns: str
    tls_client_auth_san_uri: str
    tls_client_auth_san_ip: str
    tls_client_auth_san_email: str


def parse_body(raw_body: bytes) -> dict[str, Any]:
    """The request's JSON object (RFC 7591 §3.1), all of whose text can be stored.

    JSON may escape a lone surrogate (``"\\ud800"``, RFC 8259 §8.2: such strings behave
    unpredictably); Python reads it into a ``str`` that no UTF-8 encoder writes, so the
    store would fail on it after the initial access token was spent. It is refused
    here, with the rest of the validation, before anything is spent."""
    body = client_metadata.parse_body(raw_body)
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidClientMetadata(
            "The client metadata contains text that is not valid Unicode (a lone surrogate)."
        ) from None
    return body


def apply_metadata(client: Client, metadata: ClientMetadata) -> Client:
    """The client with its RFC 7591 metadata replaced; admin-only fields (lifetimes,
    introspection rights) and secrets are kept."""
    return dataclasses.replace(
        client,
        name=metadata.client_name or client.client_id,
        redirect_uris=metadata.redirect_uris,
        grant_types=metadata.grant_types,
        token_endpoint_auth_method=metadata.token_endpoint_auth_method,
        scopes=metadata.scopes,
        post_logout_redirect_uris=metadata.post_logout_redirect_uris,
        backchannel_logout_uri=metadata.backchannel_logout_uri,
        id_token_signed_response_alg=metadata.id_token_signed_response_alg,
        subject_type=metadata.subject_type,
        allowed_cors_origins=metadata.allowed_cors_origins,
        jwks=metadata.keys.jwks,
        jwks_uri=metadata.keys.jwks_uri,
        require_pushed_authorization_requests=metadata.keys.require_pushed_authorization_requests,
        require_signed_request_object=metadata.keys.require_signed_request_object,
        tls_client_auth_kind=metadata.keys.tls_client_auth_kind,
        tls_client_auth_name=metadata.keys.tls_client_auth_name,
        dpop_bound_access_tokens=metadata.dpop_bound_access_tokens,
    )
