"""RFC 7591 dynamic client registration and RFC 7592 client management.

``POST /register`` registers a client; the response carries a
``registration_access_token`` and the ``registration_client_uri``
(``/register/{client_id}``) where the client reads (GET), replaces (PUT) or deletes
(DELETE) its registration with that token as a Bearer token (RFC 6750 §2.1).

Policies (``TOLLHOUSE_REGISTRATION``): ``token`` — registering needs an initial access
token (RFC 7591 §3) from ``tollhouse registration-token create``, with an expiry and a
number of uses; ``open`` — anyone may register; ``off`` — registration is refused
(403). Management of registered clients works under every policy.

Bearer secrets are stored only as fingerprints, so a registration access token cannot
be shown again: every successful read or update rotates it and returns the new one
(RFC 7592 §2.1/§2.2 allow a new token; §3 requires one in each response). The client
secret is likewise returned only when it is issued.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from enum import StrEnum
from typing import Any, Protocol

from tollhouse.clock import Clock
from tollhouse.errors import AccessDenied, InvalidClientMetadata, InvalidToken, OAuthError
from tollhouse.models import (
    AuthMethod,
    Client,
    InitialAccessToken,
    RegistrationAccessToken,
)
from tollhouse.protocol import client_metadata, client_names
from tollhouse.protocol.api_index import ApiIndexCache
from tollhouse.protocol.client_ids import generate as generate_client_id
from tollhouse.protocol.client_metadata import ClientMetadata
from tollhouse.protocol.endpoints.registration_bodies import (
    ClientInformation,
    apply_metadata,
    parse_body,
)
from tollhouse.protocol.fetched_urls import UrlGuard, check_fetched_urls
from tollhouse.protocol.results import NO_STORE, JsonResult, error_json
from tollhouse.protocol.revocation import Revoker
from tollhouse.randomness import equal, fingerprint, token
from tollhouse.storage.ports import ClientStore, RegistrationTokenStore

log = logging.getLogger("tollhouse.registration")

REGISTRATION_PATH = "/register"
SECRET_BYTES = 32
TOKEN_BYTES = 32
REALM = 'Bearer realm="tollhouse"'
SERVER_PROVISIONED = (
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
)
"""RFC 7592 §2.2: the client MUST NOT send these in an update; the server ignores them."""


class Policy(StrEnum):
    TOKEN = "token"
    OPEN = "open"
    OFF = "off"


class SecretHasher(Protocol):
    async def hash(self, secret: str) -> str: ...

    async def verify(self, stored_hash: str, secret: str) -> bool: ...


def bearer_token(authorization: str | None) -> str | None:
    """RFC 6750 §2.1 ``Authorization: Bearer <token>``; None when absent or another scheme."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or len(value) > 512:
        return None
    return value


def _unauthorized(presented: bool, description: str, debug: str | None = None) -> JsonResult:
    """RFC 6750 §3.1: no error code in the challenge when no token was sent at all."""
    challenge = f'{REALM}, error="invalid_token"' if presented else REALM
    return error_json(
        InvalidToken(description, debug=debug), headers={"WWW-Authenticate": challenge}
    )


class RegistrationEndpoint:
    def __init__(
        self,
        *,
        clients: ClientStore,
        tokens: RegistrationTokenStore,
        api_index: ApiIndexCache,
        hasher: SecretHasher,
        revoker: Revoker,
        clock: Clock,
        issuer: str,
        policy: str,
        url_guard: UrlGuard,
        default_client_scopes: tuple[str, ...] | None = None,
    ) -> None:
        self._clients = clients
        self._tokens = tokens
        self._api_index = api_index
        self._hasher = hasher
        self._revoker = revoker
        self._clock = clock
        self._issuer = issuer
        self.policy = Policy(policy)
        self._url_guard = url_guard
        self._default_scopes = default_client_scopes

    def discovery_endpoints(self) -> dict[str, str]:
        """RFC 8414 §2 ``registration_endpoint``, listed unless registration is off."""
        return {} if self.policy == Policy.OFF else {"registration_endpoint": REGISTRATION_PATH}

    def client_uri(self, client_id: str) -> str:
        return f"{self._issuer}{REGISTRATION_PATH}/{client_id}"

    # POST /register -----------------------------------------------------------------

    async def register(self, raw_body: bytes, authorization: str | None) -> JsonResult:
        """RFC 7591 §3.1 client registration request → §3.2.1 response (201)."""
        if self.policy == Policy.OFF:
            return error_json(
                AccessDenied(
                    "Dynamic client registration is turned off on this server.",
                    debug="TOLLHOUSE_REGISTRATION=off",
                )
            )
        initial_hash: str | None = None
        if self.policy == Policy.TOKEN:
            presented = bearer_token(authorization)
            if presented is None:
                return _unauthorized(
                    False, "An initial access token is required (Authorization: Bearer)."
                )
            initial_hash = fingerprint(presented)
            if not self._usable(await self._tokens.get_initial_access_token(initial_hash)):
                return _unauthorized(True, "The initial access token is invalid or used up.")
        try:
            metadata = await self._validate(parse_body(raw_body))
        except OAuthError as error:
            return error_json(error)
        # Spend the use only now: a refused request leaves the token as it was.
        if initial_hash is not None and (
            await self._tokens.use_initial_access_token(initial_hash, self._clock.now()) is None
        ):
            return _unauthorized(True, "The initial access token is invalid or used up.")
        return await self._create(metadata)

    def _usable(self, initial: InitialAccessToken | None) -> bool:
        return (
            initial is not None and initial.uses_left > 0 and initial.expires_at > self._clock.now()
        )

    async def _validate(self, body: dict[str, Any], client_id: str | None = None) -> ClientMetadata:
        """The metadata of a registration, or of ``client_id``'s update (RFC 7592 §2.2)."""
        metadata = client_metadata.validate(
            body,
            server_scopes=(await self._api_index.get()).defined,
            default_client_scopes=self._default_scopes,
        )
        await check_fetched_urls(body, self._url_guard)
        await client_names.check_free(self._clients, metadata.client_name, other_than=client_id)
        return metadata

    async def _create(self, metadata: ClientMetadata) -> JsonResult:
        now = self._clock.now()
        client_id = generate_client_id()  # RFC 7591 §3.2.1: the server issues the id
        secret = token(SECRET_BYTES) if metadata.has_secret else None
        client = apply_metadata(
            Client(
                client_id=client_id,
                name=client_id,
                redirect_uris=(),
                grant_types=(),
                token_endpoint_auth_method=AuthMethod.NONE,
                created_at=now,
                secret_hash=None if secret is None else await self._hasher.hash(secret),
                # No initial access token: no operator vouched for this client.
                self_registered=self.policy == Policy.OPEN,
            ),
            metadata,
        )
        await self._clients.add_client(client)
        access = token(TOKEN_BYTES)
        await self._tokens.set_registration_access_token(
            RegistrationAccessToken(client_id, fingerprint(access), now)
        )
        log.info(
            "client registered",
            extra={"event": "client_registered", "client_id": client_id, "policy": self.policy},
        )
        return JsonResult(201, self._body(client, access, secret), dict(NO_STORE))

    # /register/{client_id} --------------------------------------------------------------

    async def read(self, client_id: str, authorization: str | None) -> JsonResult:
        """RFC 7592 §2.1: the current registration, with a new registration access token."""
        refused = await self._authenticate(client_id, authorization)
        if refused is not None:
            return refused
        client = await self._clients.get_client(client_id)
        access = await self._rotate(client_id, authorization)
        if client is None or access is None:
            return _unauthorized(True, "The registration access token is not valid.")
        return JsonResult(200, self._body(client, access, None), dict(NO_STORE))

    async def update(
        self, client_id: str, authorization: str | None, raw_body: bytes
    ) -> JsonResult:
        """RFC 7592 §2.2: replace the metadata; omitted fields are removed."""
        refused = await self._authenticate(client_id, authorization)
        if refused is not None:
            return refused
        client = await self._clients.get_client(client_id)
        if client is None:
            return _unauthorized(True, "The registration access token is not valid.")
        try:
            body = parse_body(raw_body)
            await self._check_update_identity(client, body)
            provided = {k: v for k, v in body.items() if k not in SERVER_PROVISIONED}
            metadata = await self._validate(provided, client.client_id)
        except OAuthError as error:
            return error_json(error)
        secret: str | None = None
        updated = apply_metadata(client, metadata)
        if not metadata.has_secret:
            updated = dataclasses.replace(
                updated,
                secret_hash=None,
                previous_secret_hash=None,
                previous_secret_expires_at=None,
            )
        elif client.secret_hash is None:
            secret = token(SECRET_BYTES)  # public → confidential: issue a secret now
            updated = dataclasses.replace(updated, secret_hash=await self._hasher.hash(secret))
        access = await self._rotate(client_id, authorization)
        if access is None or not await self._clients.update_client(updated):
            return _unauthorized(True, "The registration access token is not valid.")
        log.info("client updated", extra={"event": "client_updated", "client_id": client_id})
        return JsonResult(200, self._body(updated, access, secret), dict(NO_STORE))

    async def _check_update_identity(self, client: Client, body: dict[str, Any]) -> None:
        # RFC 7592 §2.2: "The client MUST include its client_id field in the request, and
        # it MUST be the same as its currently issued client identifier."
        if body.get("client_id") != client.client_id:
            raise InvalidClientMetadata("client_id in the body must be this client's client_id.")
        sent_secret = body.get("client_secret")
        if sent_secret is None:
            return
        # "If the client includes the client_secret field in the request, the value of
        # this field MUST match the currently issued client secret for that client."
        if (
            not isinstance(sent_secret, str)
            or client.secret_hash is None
            or not await self._hasher.verify(client.secret_hash, sent_secret)
        ):
            raise InvalidClientMetadata(
                "client_secret does not match the current secret; a client cannot choose its "
                "own secret (RFC 7592 section 2.2)."
            )

    async def delete(self, client_id: str, authorization: str | None) -> JsonResult:
        """RFC 7592 §2.3: remove the client, its registration token and its tokens (204)."""
        refused = await self._authenticate(client_id, authorization)
        if refused is not None:
            return refused
        try:
            # "the authorization server ... SHOULD immediately invalidate all existing
            # authorization grants and currently-active tokens associated with this client"
            await self._revoker.revoke_client(client_id, "client_deleted")
        except OAuthError as error:
            return error_json(error)
        if not await self._clients.delete_client(client_id):
            return _unauthorized(True, "The registration access token is not valid.")
        log.info("client deleted", extra={"event": "client_deleted", "client_id": client_id})
        return JsonResult(204, {}, dict(NO_STORE))

    async def _authenticate(self, client_id: str, authorization: str | None) -> JsonResult | None:
        """RFC 7592 §2: the registration access token of this client, else 401 — also for
        a client that does not exist (§2.1: "MUST respond with HTTP 401")."""
        presented = bearer_token(authorization)
        if presented is None:
            return _unauthorized(
                False, "The registration access token is required (Authorization: Bearer)."
            )
        stored = await self._tokens.get_registration_access_token(client_id)
        if stored is None or not equal(stored.token_hash, fingerprint(presented)):
            return _unauthorized(
                True,
                "The registration access token is not valid for this client.",
                debug="unknown client or wrong registration access token",
            )
        return None

    async def _rotate(self, client_id: str, authorization: str | None) -> str | None:
        """Swap the presented token for a new one atomically; None if it changed meanwhile."""
        presented = bearer_token(authorization)
        if presented is None:
            return None
        access = token(TOKEN_BYTES)
        swapped = await self._tokens.replace_registration_access_token(
            client_id,
            fingerprint(presented),
            RegistrationAccessToken(client_id, fingerprint(access), self._clock.now()),
        )
        return access if swapped else None

    def _body(self, client: Client, access: str, secret: str | None) -> dict[str, Any]:
        return dict(self.information(client, access, secret))

    def information(self, client: Client, access: str, secret: str | None) -> ClientInformation:
        info: ClientInformation = {
            "client_id": client.client_id,
            "client_id_issued_at": client.created_at,
        }
        if secret is not None:
            info["client_secret"] = secret
            info["client_secret_expires_at"] = 0  # RFC 7591 §3.2.1: 0 = never expires
        info["registration_access_token"] = access
        info["registration_client_uri"] = self.client_uri(client.client_id)
        info["client_name"] = client.name
        info["redirect_uris"] = list(client.redirect_uris)
        info["grant_types"] = list(client.grant_types)
        info["response_types"] = ["code"] if "authorization_code" in client.grant_types else []
        info["token_endpoint_auth_method"] = client.token_endpoint_auth_method
        if client.scopes is not None:
            info["scope"] = " ".join(client.scopes)
        if client.post_logout_redirect_uris:
            info["post_logout_redirect_uris"] = list(client.post_logout_redirect_uris)
        if client.backchannel_logout_uri is not None:
            info["backchannel_logout_uri"] = client.backchannel_logout_uri
        if client.id_token_signed_response_alg is not None:
            info["id_token_signed_response_alg"] = client.id_token_signed_response_alg
        info["subject_type"] = client.subject_type
        if client.allowed_cors_origins:
            info["allowed_cors_origins"] = list(client.allowed_cors_origins)
        if client.jwks is not None:
            info["jwks"] = json.loads(client.jwks)
        if client.jwks_uri is not None:
            info["jwks_uri"] = client.jwks_uri
        if client.require_pushed_authorization_requests:
            info["require_pushed_authorization_requests"] = True
        if client.require_signed_request_object:
            info["require_signed_request_object"] = True
        if client.dpop_bound_access_tokens:
            info["dpop_bound_access_tokens"] = True
        if client.tls_client_auth_kind is not None:
            name = f"tls_client_auth_{client.tls_client_auth_kind}"
            info[name] = client.tls_client_auth_name  # type: ignore[literal-required]
        return info
