"""``tollhouse.resource``: validate Tollhouse access tokens in your API, locally and fast.

Usable alone: it needs only ``httpx`` and ``cryptography`` (plus Starlette for the ASGI
parts and ``redis`` for :class:`RedisRevocationList`), never the identity provider.

Framework-free::

    from tollhouse.resource import RevocationFeed, TokenError, TokenValidator

    feed = RevocationFeed("https://id.example.test", "sensors-api", "secret")
    validator = TokenValidator(
        "https://id.example.test", "https://sensors.example.test", revocation=feed
    )
    try:
        claims = validator.validate(token, required_scopes=["read_sensors"])
    except TokenError as error:
        # error.status_code: 401 / 403 / 400; error.www_authenticate: RFC 6750 header;
        # error.check: the rule that refused the token (exp, aud, signature...)
        ...

ASGI (any framework), every request needs a token::

    app = BearerAuthMiddleware(app, validator, exclude_paths={"/healthz"})
    # then: request.state.token_claims (Starlette) or scope["state"]["token_claims"]

Starlette / FastAPI, per endpoint::

    app.state.token_validator = validator

    @app.get("/readings")  # FastAPI
    async def readings(claims: dict = Depends(require_scopes("read_sensors"))): ...

    async def readings(request):  # Starlette
        claims = await require_scopes("read_sensors")(request)

Step-up (RFC 9470): ``Depends(require_acr("urn:tollhouse:mfa", max_age=300))`` answers
401 ``insufficient_user_authentication`` with ``acr_values`` / ``max_age`` in
``WWW-Authenticate`` when the user signed in with less, or too long ago.

Keys come from the issuer's discovery document and JWKS, cached (``jwks_ttl``, default
an hour), refreshed in the background and re-fetched at most once per interval for an
unknown ``kid``. In async code use ``await validator.validate_async(...)``, which keeps
network I/O off the event loop. See docs/resource-server.md for the revocation options
and the ``tollhouse gateway`` process for nginx, Traefik and Envoy.
"""

from __future__ import annotations

from tollhouse.errors import ConfigError
from tollhouse.resource.asgi import BearerAuthMiddleware
from tollhouse.resource.dependencies import require_scopes
from tollhouse.resource.dpop import MemoryReplayCache, ProofChecker, RedisReplayCache
from tollhouse.resource.errors import RevocationUnavailable, TokenError
from tollhouse.resource.revocation import (
    IntrospectionRevocation,
    RedisRevocationList,
    RevocationFeed,
)
from tollhouse.resource.step_up import check_authentication, require_acr
from tollhouse.resource.validator import RevocationCheck, TokenValidator

__all__ = [
    "BearerAuthMiddleware",
    "ConfigError",
    "IntrospectionRevocation",
    "MemoryReplayCache",
    "ProofChecker",
    "RedisReplayCache",
    "RedisRevocationList",
    "RevocationCheck",
    "RevocationFeed",
    "RevocationUnavailable",
    "TokenError",
    "TokenValidator",
    "check_authentication",
    "require_acr",
    "require_scopes",
]
