"""What the metrics call a request: its route template, and a ``/token`` answer's outcome.

:class:`~tollhouse.web.request_context.RequestContext` counts every request under the template of
the route that served it (``/token``, ``/static``), read from Starlette's
``scope["route"]`` after routing (or found among ``routes`` for a request answered
before routing), or ``unmatched``: a raw path would let any client mint label values.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence

from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from tollhouse.observability import metrics
from tollhouse.protocol.results import JsonResult


def route_template(scope: Scope, routes: Sequence[BaseRoute] = ()) -> str:
    """The template of the route that served the request; for a request answered before
    routing (a rate limit's 429), the template of the route it would have reached."""
    route = scope.get("route")
    if route is None:
        route = next((r for r in routes if r.matches(scope)[0] is not Match.NONE), None)
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else metrics.UNMATCHED


def observe_token_response(
    grant_type: str | None, supported: Collection[str], outcome: JsonResult | Response
) -> None:
    """Count one ``/token`` answer: a :class:`JsonResult` from the token endpoint, or the
    error response of a request refused before it (unreadable body or credentials)."""
    if isinstance(outcome, JsonResult):
        error = outcome.error.error if outcome.error is not None else None
        if error is None and outcome.status >= 400:
            error = str(outcome.body.get("error", "error"))
    else:
        try:
            error = str(json.loads(bytes(outcome.body)).get("error", "error"))
        except (ValueError, AttributeError):
            error = "error"
    metrics.observe_token_request(grant_type, supported, error)
