"""``require_scopes(...)``: a Starlette / FastAPI dependency that returns the token's claims."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

from tollhouse.resource.asgi import request_url
from tollhouse.resource.at_jwt import scope_set
from tollhouse.resource.errors import TokenError, insufficient_scope
from tollhouse.resource.validator import TokenValidator


class RequireScopes:
    """Awaitable check of one request: ``claims = await require_scopes("a")(request)``.

    Uses the claims the :class:`~tollhouse.resource.BearerAuthMiddleware` already put
    in the request state if present, else validates the ``Authorization`` header with
    ``request.app.state.token_validator``. Failures raise Starlette's ``HTTPException``
    with the RFC 6750 status and ``WWW-Authenticate`` header, which both Starlette and
    FastAPI turn into the response.
    """

    def __init__(self, scopes: tuple[str, ...]) -> None:
        self.scopes = scopes

    async def __call__(self, request: Request) -> dict[str, Any]:
        validator = getattr(request.app.state, "token_validator", None)
        claims = request.scope.get("state", {}).get("token_claims")
        try:
            if claims is not None:
                granted = scope_set(str(claims.get("scope", "")))
                if not set(self.scopes).issubset(granted):
                    raise insufficient_scope(self.scopes)
                return dict(claims)
            if not isinstance(validator, TokenValidator):
                raise RuntimeError("set app.state.token_validator to a TokenValidator")
            return await validator.validate_request_async(
                request.headers.getlist("authorization"),
                request.headers.getlist("dpop"),
                method=request.method,
                url=request_url(request.scope, getattr(request.app.state, "public_url", None)),
                required_scopes=self.scopes,
            )
        except TokenError as error:
            if isinstance(validator, TokenValidator):
                error.realm = validator.realm
            raise HTTPException(
                error.status_code,
                detail=error.description,
                headers={"WWW-Authenticate": error.www_authenticate, "Cache-Control": "no-store"},
            ) from None


def require_scopes(*scopes: str) -> RequireScopes:
    """A dependency requiring every scope in ``scopes`` (FastAPI: ``Depends(...)``)."""
    return RequireScopes(tuple(scopes))
