"""Conversion between the records in ``tollhouse.models`` and rows of ``schema``.

Tuples of strings and JSON objects are stored as JSON text; everything else maps
column for column. Each ``*_row`` returns the values to insert, each ``to_*`` builds
a record from a fetched row mapping.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tollhouse.models import (
    AccessTokenRecord,
    AuthorizationCode,
    Client,
    Consent,
    Interaction,
    RefreshToken,
    Revocation,
    Session,
    SigningKey,
    TokenFamily,
    User,
)

Row = Mapping[Any, Any]
"""A row by column name: SQLAlchemy's ``RowMapping``, or a dict from prepared.py."""


def dump_strings(values: Sequence[str]) -> str:
    return json.dumps(list(values))


def load_strings(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def dump_object(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def load_object(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def client_row(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "redirect_uris": dump_strings(client.redirect_uris),
        "grant_types": dump_strings(client.grant_types),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "created_at": client.created_at,
        "secret_hash": client.secret_hash,
        "scopes": None if client.scopes is None else dump_strings(client.scopes),
        "access_token_ttl": client.access_token_ttl,
        "refresh_token_ttl": client.refresh_token_ttl,
        "refresh_token_absolute_ttl": client.refresh_token_absolute_ttl,
        "introspect_audiences": dump_strings(client.introspect_audiences),
        "post_logout_redirect_uris": dump_strings(client.post_logout_redirect_uris),
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "subject_type": client.subject_type,
        "previous_secret_hash": client.previous_secret_hash,
        "previous_secret_expires_at": client.previous_secret_expires_at,
        "allowed_cors_origins": dump_strings(client.allowed_cors_origins),
        "self_registered": client.self_registered,
        "jwks": client.jwks,
        "jwks_uri": client.jwks_uri,
        "require_par": client.require_pushed_authorization_requests,
        "require_signed_request_object": client.require_signed_request_object,
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "require_mfa": client.require_mfa,
        "require_passkey": client.require_passkey,
        "tls_client_auth_kind": client.tls_client_auth_kind,
        "tls_client_auth_name": client.tls_client_auth_name,
    }


def to_client(row: Row) -> Client:
    return Client(
        client_id=row["client_id"],
        name=row["name"],
        redirect_uris=load_strings(row["redirect_uris"]),
        grant_types=load_strings(row["grant_types"]),
        token_endpoint_auth_method=row["token_endpoint_auth_method"],
        created_at=row["created_at"],
        secret_hash=row["secret_hash"],
        scopes=None if row["scopes"] is None else load_strings(row["scopes"]),
        access_token_ttl=row["access_token_ttl"],
        refresh_token_ttl=row["refresh_token_ttl"],
        refresh_token_absolute_ttl=row["refresh_token_absolute_ttl"],
        introspect_audiences=load_strings(row["introspect_audiences"]),
        post_logout_redirect_uris=load_strings(row["post_logout_redirect_uris"]),
        backchannel_logout_uri=row["backchannel_logout_uri"],
        id_token_signed_response_alg=row["id_token_signed_response_alg"],
        subject_type=row["subject_type"],
        previous_secret_hash=row["previous_secret_hash"],
        previous_secret_expires_at=row["previous_secret_expires_at"],
        allowed_cors_origins=load_strings(row["allowed_cors_origins"]),
        self_registered=bool(row["self_registered"]),
        jwks=row["jwks"],
        jwks_uri=row["jwks_uri"],
        require_pushed_authorization_requests=bool(row["require_par"]),
        require_signed_request_object=bool(row["require_signed_request_object"]),
        dpop_bound_access_tokens=bool(row["dpop_bound_access_tokens"]),
        require_mfa=bool(row["require_mfa"]),
        require_passkey=bool(row["require_passkey"]),
        tls_client_auth_kind=row["tls_client_auth_kind"],
        tls_client_auth_name=row["tls_client_auth_name"],
    )


def user_row(user: User) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "username": user.username,
        "password_hash": user.password_hash,
        "created_at": user.created_at,
        "email": user.email,
        "name": user.name,
        "email_verified": user.email_verified,
    }


def to_user(row: Row) -> User:
    return User(
        user_id=row["user_id"],
        username=row["username"],
        password_hash=row["password_hash"],
        created_at=row["created_at"],
        email=row["email"],
        name=row["name"],
        email_verified=row["email_verified"],
    )


def code_row(code: AuthorizationCode) -> dict[str, Any]:
    return {
        "code_hash": code.code_hash,
        "client_id": code.client_id,
        "user_id": code.user_id,
        "redirect_uri": code.redirect_uri,
        "scopes": dump_strings(code.scopes),
        "audience": code.audience,
        "code_challenge": code.code_challenge,
        "code_challenge_method": code.code_challenge_method,
        "created_at": code.created_at,
        "expires_at": code.expires_at,
        "auth_time": code.auth_time,
        "session_id": code.session_id,
        "nonce": code.nonce,
        "used_at": code.used_at,
        "issued_jti": code.issued_jti,
        "issued_exp": code.issued_exp,
        "family_id": code.family_id,
        "amr": dump_strings(code.amr),
        "acr": code.acr,
        "dpop_jkt": code.dpop_jkt,
    }


def to_code(row: Row) -> AuthorizationCode:
    return AuthorizationCode(
        code_hash=row["code_hash"],
        client_id=row["client_id"],
        user_id=row["user_id"],
        redirect_uri=row["redirect_uri"],
        scopes=load_strings(row["scopes"]),
        audience=row["audience"],
        code_challenge=row["code_challenge"],
        code_challenge_method=row["code_challenge_method"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        auth_time=row["auth_time"],
        session_id=row["session_id"],
        nonce=row["nonce"],
        used_at=row["used_at"],
        issued_jti=row["issued_jti"],
        issued_exp=row["issued_exp"],
        family_id=row["family_id"],
        amr=load_strings(row["amr"]),
        acr=row["acr"],
        dpop_jkt=row["dpop_jkt"],
    )


def consent_row(consent: Consent) -> dict[str, Any]:
    return {
        "user_id": consent.user_id,
        "client_id": consent.client_id,
        "scopes": dump_strings(consent.scopes),
        "granted_at": consent.granted_at,
    }


def to_consent(row: Row) -> Consent:
    return Consent(
        user_id=row["user_id"],
        client_id=row["client_id"],
        scopes=load_strings(row["scopes"]),
        granted_at=row["granted_at"],
    )


def session_row(session: Session) -> dict[str, Any]:
    return {
        "session_hash": session.session_hash,
        "user_id": session.user_id,
        "auth_time": session.auth_time,
        "created_at": session.created_at,
        "expires_at": session.expires_at,
        # No sid ("") is stored as NULL: the column is unique among real ones only.
        "sid": session.sid or None,
        "last_active_at": session.last_active_at,
        "amr": dump_strings(session.amr),
        "acr": session.acr,
    }


def to_session(row: Row) -> Session:
    return Session(
        session_hash=row["session_hash"],
        user_id=row["user_id"],
        auth_time=row["auth_time"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        sid=row["sid"] or "",
        last_active_at=row["last_active_at"],
        amr=load_strings(row["amr"]),
        acr=row["acr"],
    )


def interaction_row(interaction: Interaction) -> dict[str, Any]:
    return {
        "interaction_hash": interaction.interaction_hash,
        "csrf_hash": interaction.csrf_hash,
        "client_id": interaction.client_id,
        "request": dump_object(interaction.request),
        "created_at": interaction.created_at,
        "expires_at": interaction.expires_at,
    }


def to_interaction(row: Row) -> Interaction:
    return Interaction(
        interaction_hash=row["interaction_hash"],
        csrf_hash=row["csrf_hash"],
        client_id=row["client_id"],
        request=load_object(row["request"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )


def key_row(key: SigningKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "public_jwk": dump_object(key.public_jwk),
        "private_ciphertext": key.private_ciphertext,
        "created_at": key.created_at,
        "status": key.status,
        "retired_at": key.retired_at,
        "activates_at": key.activates_at,
        "generation": key.generation,
    }


def to_key(row: Row) -> SigningKey:
    return SigningKey(
        kid=row["kid"],
        alg=row["alg"],
        public_jwk=load_object(row["public_jwk"]),
        private_ciphertext=bytes(row["private_ciphertext"]),
        created_at=row["created_at"],
        status=row["status"],
        retired_at=row["retired_at"],
        activates_at=row["activates_at"],
        generation=row["generation"],
    )


def revocation_row(revocation: Revocation) -> dict[str, Any]:
    """Without ``seq``: the database assigns it."""
    return {
        "jti": revocation.jti,
        "expires_at": revocation.expires_at,
        "revoked_at": revocation.revoked_at,
        "reason": revocation.reason,
    }


def to_revocation(row: Row) -> Revocation:
    return Revocation(
        jti=row["jti"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        reason=row["reason"],
        seq=row["seq"],
    )


def family_row(family: TokenFamily) -> dict[str, Any]:
    return {
        "family_id": family.family_id,
        "client_id": family.client_id,
        "subject": family.subject,
        "created_at": family.created_at,
        "expires_at": family.expires_at,
        "revoked_at": family.revoked_at,
        "revoked_reason": family.revoked_reason,
        "sid": family.sid,
        "offline": family.offline,
        "amr": dump_strings(family.amr),
        "acr": family.acr,
        "dpop_jkt": family.dpop_jkt,
    }


def to_family(row: Row) -> TokenFamily:
    return TokenFamily(
        family_id=row["family_id"],
        client_id=row["client_id"],
        subject=row["subject"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        revoked_reason=row["revoked_reason"],
        sid=row["sid"],
        offline=row["offline"],
        amr=load_strings(row["amr"]),
        acr=row["acr"],
        dpop_jkt=row["dpop_jkt"],
    )


def refresh_token_row(token: RefreshToken) -> dict[str, Any]:
    return {
        "token_hash": token.token_hash,
        "family_id": token.family_id,
        "client_id": token.client_id,
        "subject": token.subject,
        "scopes": dump_strings(token.scopes),
        "audience": token.audience,
        "auth_time": token.auth_time,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "used_at": token.used_at,
        "replaced_by": token.replaced_by,
    }


def to_refresh_token(row: Row) -> RefreshToken:
    return RefreshToken(
        token_hash=row["token_hash"],
        family_id=row["family_id"],
        client_id=row["client_id"],
        subject=row["subject"],
        scopes=load_strings(row["scopes"]),
        audience=row["audience"],
        auth_time=row["auth_time"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        used_at=row["used_at"],
        replaced_by=row["replaced_by"],
    )


def access_token_row(record: AccessTokenRecord) -> dict[str, Any]:
    return {
        "jti": record.jti,
        "client_id": record.client_id,
        "subject": record.subject,
        "expires_at": record.expires_at,
        "issued_at": record.issued_at,
        "family_id": record.family_id,
    }


def to_access_token(row: Row) -> AccessTokenRecord:
    return AccessTokenRecord(
        jti=row["jti"],
        client_id=row["client_id"],
        subject=row["subject"],
        expires_at=row["expires_at"],
        issued_at=row["issued_at"],
        family_id=row["family_id"],
    )
