"""RFC 9470 step-up authentication: an API demands how (``acr``) or how recently
(``auth_time``) the user signed in, beyond the token being valid.

Framework-free::

    check_authentication(claims, acr_values=("urn:tollhouse:mfa",), max_age=300)
    check_authentication(claims, acr_values=("phr",))  # a passkey sign-in only

Starlette / FastAPI, per endpoint (after the scopes, like ``require_scopes``)::

    @app.post("/breakers/{id}/open")
    async def open_breaker(claims: dict = Depends(require_acr("urn:tollhouse:mfa"))): ...

A refusal is ``401 insufficient_user_authentication`` with ``acr_values`` and
``max_age`` in ``WWW-Authenticate`` (RFC 9470 §3), which tell the client what to ask
the authorization server for; Tollhouse's tokens carry ``acr`` and ``auth_time``
(RFC 9068 §2.2.1).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

from tollhouse.resource.dependencies import RequireScopes
from tollhouse.resource.errors import TokenError, insufficient_user_authentication

STRONGER: dict[str, frozenset[str]] = {"urn:tollhouse:mfa": frozenset({"phr"})}
"""Tollhouse's levels that also meet a requested one: a passkey sign-in (``phr``,
phishing-resistant) is a second factor too, so it passes ``urn:tollhouse:mfa``."""


def _meets(acr: object, acr_values: tuple[str, ...]) -> bool:
    if not isinstance(acr, str):
        return False
    return any(acr == wanted or acr in STRONGER.get(wanted, ()) for wanted in acr_values)


def check_authentication(
    claims: Mapping[str, Any],
    *,
    acr_values: tuple[str, ...] = (),
    max_age: int | None = None,
    now: float | None = None,
) -> None:
    """Raise :class:`TokenError` unless the token's ``acr`` is one of ``acr_values``
    or stronger (:data:`STRONGER`, when given) and its ``auth_time`` is at most
    ``max_age`` seconds old (when given)."""
    if acr_values and not _meets(claims.get("acr"), acr_values):
        raise insufficient_user_authentication(
            "A different authentication level is required.",
            acr_values=acr_values,
            max_age=max_age,
        )
    if max_age is not None:
        auth_time = claims.get("auth_time")
        current = time.time() if now is None else now
        if not isinstance(auth_time, int) or isinstance(auth_time, bool):
            fresh = False
        else:
            fresh = current - auth_time <= max_age
        if not fresh:
            raise insufficient_user_authentication(
                "More recent authentication is required.", acr_values=acr_values, max_age=max_age
            )


class RequireAuthentication(RequireScopes):
    """:class:`RequireScopes` plus the RFC 9470 checks, as one dependency."""

    def __init__(
        self, scopes: tuple[str, ...], acr_values: tuple[str, ...], max_age: int | None
    ) -> None:
        super().__init__(scopes)
        self.acr_values = acr_values
        self.max_age = max_age

    async def __call__(self, request: Request) -> dict[str, Any]:
        claims = await super().__call__(request)
        try:
            check_authentication(claims, acr_values=self.acr_values, max_age=self.max_age)
        except TokenError as error:
            validator = getattr(request.app.state, "token_validator", None)
            error.realm = str(getattr(validator, "realm", "") or "")
            raise HTTPException(
                error.status_code,
                detail=error.description,
                headers={"WWW-Authenticate": error.www_authenticate, "Cache-Control": "no-store"},
            ) from None
        return claims


def require_acr(
    *acr_values: str, max_age: int | None = None, scopes: tuple[str, ...] = ()
) -> RequireAuthentication:
    """A dependency requiring one of ``acr_values`` and, if given, a sign-in at most
    ``max_age`` seconds ago (``require_acr(max_age=300)`` checks only the time)."""
    return RequireAuthentication(tuple(scopes), tuple(acr_values), max_age)
