"""Client authentication at every client-authenticated endpoint (RFC 6749 §2.3,
RFC 7591 §2): /token, /introspect, /revoke, /revocations and the others built on them.

Methods: ``client_secret_basic``, ``client_secret_post``, ``private_key_jwt`` (RFC 7523
§2.2, OIDC Core §9; protocol/client_assertion.py), ``tls_client_auth`` and
``self_signed_tls_client_auth`` (RFC 8705 §2; protocol/tls_client_auth.py) and ``none``
for public clients (which must then use PKCE). A client uses the kind of credential it
was registered with: a client with keys never authenticates with a secret, nor the reverse.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import unquote_plus

from tollhouse.clock import Clock, SystemClock
from tollhouse.errors import InvalidClient, InvalidRequest
from tollhouse.models import AuthMethod, Client
from tollhouse.protocol import tls_client_auth
from tollhouse.protocol.client_assertion import (
    ASSERTION_TYPE,
    AssertionVerifier,
    unverified_claims,
)
from tollhouse.protocol.client_jws import ClientKeys
from tollhouse.protocol.profile import Fapi2Profile
from tollhouse.protocol.requests import ClientCredentials
from tollhouse.storage.ports import ClientStore

BASIC_CHALLENGE = 'Basic realm="tollhouse", charset="UTF-8"'
ASSERTION_PARAMETERS = frozenset({"client_assertion", "client_assertion_type", "client_id"})


class SecretVerifier(Protocol):
    async def verify(self, stored_hash: str, secret: str) -> bool: ...

    async def dummy_verify(self) -> None:
        """Spend the time of a verification (unknown client: no timing oracle)."""


def credentials_from(authorization: str | None, params: Mapping[str, str]) -> ClientCredentials:
    """Extract the presented credentials from the Authorization header or the body.

    RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each
    request." RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64.
    """
    body_id = params.get("client_id")
    body_secret = params.get("client_secret")
    if "client_assertion" in params or "client_assertion_type" in params:
        if (authorization and authorization.strip()) or body_secret is not None:
            raise InvalidRequest(
                "Use one client authentication method, not an assertion and a secret."
            )
        return _assertion_credentials(params, body_id)
    if authorization and authorization.strip():
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            raise InvalidClient("Only HTTP Basic client authentication is supported in the header.")
        if body_secret is not None:
            raise InvalidRequest(
                "Use one client authentication method, not Basic and a body secret."
            )
        client_id, secret = _decode_basic(value.strip())
        if body_id is not None and body_id != client_id:
            raise InvalidRequest("client_id in the body differs from the Basic credentials.")
        return ClientCredentials(client_id, secret, AuthMethod.CLIENT_SECRET_BASIC)
    if body_secret is not None:
        if body_id is None:
            raise InvalidRequest("client_secret was sent without client_id.")
        return ClientCredentials(body_id, body_secret, AuthMethod.CLIENT_SECRET_POST)
    return ClientCredentials(body_id, None, AuthMethod.NONE)


def _assertion_credentials(params: Mapping[str, str], body_id: str | None) -> ClientCredentials:
    """RFC 7523 §2.2: ``client_assertion_type`` and ``client_assertion``; client_id is
    optional and, when sent, must be the assertion's ``sub``."""
    kind = params.get("client_assertion_type")
    assertion = params.get("client_assertion")
    if kind != ASSERTION_TYPE:
        raise InvalidClient(f"client_assertion_type must be {ASSERTION_TYPE}.")
    if not assertion:
        raise InvalidClient("client_assertion is missing.")
    subject = unverified_claims(assertion).get("sub")
    if not isinstance(subject, str) or not subject:
        raise InvalidClient("The client assertion has no sub naming the client.")
    if body_id is not None and body_id != subject:
        raise InvalidClient("client_id differs from the client assertion's sub.")
    return ClientCredentials(subject, None, AuthMethod.PRIVATE_KEY_JWT, assertion)


def _decode_basic(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidClient("The Basic credentials are not valid base64.") from None
    raw_id, sep, raw_secret = decoded.partition(":")
    if not sep or not raw_id:
        raise InvalidClient("The Basic credentials must be client_id:client_secret.")
    return unquote_plus(raw_id), unquote_plus(raw_secret)


class ClientAuthenticator:
    """Turns presented credentials into a trusted :class:`Client` or ``invalid_client``."""

    def __init__(
        self,
        clients: ClientStore,
        verifier: SecretVerifier,
        clock: Clock | None = None,
        assertions: AssertionVerifier | None = None,
        profile: Fapi2Profile | None = None,
        keys: ClientKeys | None = None,
    ) -> None:
        self.profile = profile
        self._keys = keys
        self._clients = clients
        self._verifier = verifier
        self._clock = clock or SystemClock()
        self._assertions = assertions

    async def authenticate(self, credentials: ClientCredentials) -> Client:
        if credentials.client_id is None:
            raise InvalidClient("Client authentication is required (client_id is missing).")
        client = await self._clients.get_client(credentials.client_id)
        if client is None:
            if credentials.client_secret is not None:
                await self._verifier.dummy_verify()
            raise InvalidClient("Client authentication failed.", debug="unknown client_id")
        if self.profile is not None:
            self.profile.check_client(client)
        if client.uses_certificate:
            return await self._by_certificate(client, credentials)
        if client.uses_keys or credentials.assertion is not None:
            return await self._by_assertion(client, credentials.assertion)
        if client.is_public:
            if credentials.client_secret is not None:
                raise InvalidClient(
                    "This client is public and has no secret; send only client_id.",
                )
            return client
        if credentials.client_secret is None or client.secret_hash is None:
            raise InvalidClient("This client is confidential: a client secret is required.")
        if await self._verifier.verify(client.secret_hash, credentials.client_secret):
            return client
        if await self._previous_secret_matches(client, credentials.client_secret):
            return client
        raise InvalidClient("Client authentication failed.", debug="wrong client secret")

    async def _by_assertion(self, client: Client, assertion: str | None) -> Client:
        if not client.uses_keys:
            raise InvalidClient(
                "This client is not registered for private_key_jwt; authenticate with "
                f"{client.token_endpoint_auth_method}."
            )
        if assertion is None:
            raise InvalidClient(
                "This client authenticates with private_key_jwt: send client_assertion_type "
                "and a signed client_assertion, not a secret."
            )
        if self._assertions is None:
            raise InvalidClient("private_key_jwt is not enabled on this server.")
        await self._assertions.verify(client, assertion)
        return client

    async def _by_certificate(self, client: Client, credentials: ClientCredentials) -> Client:
        """RFC 8705 §2: the client sends its client_id and nothing else; the TLS
        connection (or the trusted proxy) brings its certificate."""
        if credentials.client_secret is not None or credentials.assertion is not None:
            raise InvalidClient(
                f"This client authenticates with {client.token_endpoint_auth_method}: send "
                "only client_id, over TLS with its client certificate."
            )
        await tls_client_auth.verify(client, credentials.certificate, self._keys)
        return client

    async def _previous_secret_matches(self, client: Client, secret: str) -> bool:
        """The secret replaced by ``clients rotate-secret --overlap``, until it expires."""
        if client.previous_secret_hash is None or client.previous_secret_expires_at is None:
            return False
        if client.previous_secret_expires_at <= self._clock.now():
            return False
        return await self._verifier.verify(client.previous_secret_hash, secret)
