"""The page a browser gets when its address sent too many requests (web/throttle.py):
HTTP 429 with ``Retry-After`` (RFC 6585 §4), in the browser's language, with the
operator's branding and the request id, and nothing of the request echoed back."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from tollhouse.provider import Provider
from tollhouse.web.branding import branding_of
from tollhouse.web.messages import messages_for
from tollhouse.web.rendering import page

ERROR = "temporarily_unavailable"
"""RFC 6749 §4.1.2.1's code for an authorization server that cannot answer now; shown on
the page (and in the access log), never sent to the client's redirect URI."""


def busy_page(provider: Provider, scope: Scope, retry_after: int) -> Response:
    request = Request(scope)
    messages = messages_for(
        request.query_params.get("ui_locales"), request.headers.get("accept-language")
    )
    state = scope.setdefault("state", {})
    state["oauth_error"] = ERROR
    return page(
        "error.html",
        {
            "title_key": "busy.title",
            "message": messages("busy.message", wait=messages.wait(retry_after)),
            "details": (),
            "registered": None,
            "hint": None,
            "error_code": ERROR,
            "request_id": str(state.get("request_id", "-")),
        },
        messages=messages,
        branding=branding_of(provider.pages),
        status=429,
        headers={"Retry-After": str(retry_after)},
    )
