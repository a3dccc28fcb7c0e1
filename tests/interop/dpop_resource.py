"""A small API guarded by ``tollhouse.resource.BearerAuthMiddleware``, for the
oauth4webapi DPoP interop test: ``python -m tests.interop.dpop_resource PORT``.
Environment: ISSUER, AUDIENCE, CA_FILE (the IdP's development certificate)."""

from __future__ import annotations

import os
import ssl
import sys

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tollhouse.resource import TokenValidator
from tollhouse.resource.asgi import BearerAuthMiddleware


async def readings(request: Request) -> JSONResponse:
    claims = request.scope["state"]["token_claims"]
    return JSONResponse({"kw": 42, "client_id": claims.get("client_id"), "cnf": claims.get("cnf")})


def main() -> None:
    port = int(sys.argv[1])
    verify = ssl.create_default_context(cafile=os.environ["CA_FILE"])
    validator = TokenValidator(
        os.environ["ISSUER"],
        (os.environ["AUDIENCE"],),
        http_client=httpx.Client(timeout=5.0, verify=verify, trust_env=False),
    )
    app = BearerAuthMiddleware(Starlette(routes=[Route("/readings", readings)]), validator)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
