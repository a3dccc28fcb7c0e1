"""Operator endpoints: ``/readyz`` (can this instance serve?) and ``/metrics`` (for
whom: web/metrics_access.py).

``/healthz`` (in :mod:`tollhouse.web.routes`) only says the process is up: a liveness
probe. ``/readyz`` says whether it can do its work now: the database answers, Redis
answers when configured, and signing keys are loaded. A load balancer or Kubernetes
readiness probe takes an instance out of rotation on 503 without restarting it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tollhouse.observability import metrics
from tollhouse.provider import Provider
from tollhouse.web import metrics_access
from tollhouse.web.rendering import json_response

log = logging.getLogger("tollhouse.health")

CHECK_TIMEOUT = 2.0
"""Seconds one dependency may take to answer before it counts as down."""
RETRY_AFTER = "5"


async def _run(name: str, check: Awaitable[None], request_id: str) -> str:
    """``"ok"`` or a short reason; the full error goes to the log, not the response
    (a driver's message may name hosts or users)."""
    try:
        await asyncio.wait_for(check, CHECK_TIMEOUT)
    except TimeoutError:
        log.warning(f"readiness: {name} timed out", extra={"request_id": request_id})
        return f"timed out after {CHECK_TIMEOUT:g} s"
    except Exception as exc:
        log.warning(
            f"readiness: {name} failed",
            exc_info=True,
            extra={"request_id": request_id, "check": name},
        )
        return f"unavailable ({type(exc).__name__})"
    return "ok"


async def readyz(request: Request) -> Response:
    """200 ``{"status": "ready", "checks": {...}}``, or 503 naming what failed."""
    provider: Provider = request.app.state.provider
    request_id = str(request.scope.get("state", {}).get("request_id", "-"))
    checks = provider.readiness_checks()
    names = list(checks)
    results = await asyncio.gather(*(_run(name, checks[name](), request_id) for name in names))
    report = dict(zip(names, results, strict=True))
    failed = [name for name, result in report.items() if result != "ok"]
    headers = {"Cache-Control": "no-store"}
    if failed:
        headers["Retry-After"] = RETRY_AFTER
        body = {"status": "unavailable", "failed": failed, "checks": report}
        return JSONResponse(body, status_code=503, headers=headers)
    return JSONResponse({"status": "ready", "checks": report}, headers=headers)


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text exposition; with ``--workers N``, the sum over all workers. Only
    for local callers and holders of the metrics token (web/metrics_access.py)."""
    provider: Provider = request.app.state.provider
    refused = metrics_access.refusal(request.scope, provider.metrics_access)
    if refused is not None:
        return json_response(refused)
    body, content_type = metrics.exposition()
    return Response(body, headers={"Cache-Control": "no-store", "Content-Type": content_type})


def routes() -> list[Route]:
    return [
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
