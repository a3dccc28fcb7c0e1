"""Rendering results: JSON bodies and HTML pages with strict security headers.

Pages get their words from :mod:`tollhouse.web.messages` (``t("key", name=value)`` in
the templates; values are escaped, ``|strong`` marks one bold) and the operator's name
and logo from :mod:`tollhouse.web.branding`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Message, Receive, Scope, Send

from tollhouse.protocol.results import JsonResult, Redirect
from tollhouse.web.branding import Branding
from tollhouse.web.messages import Messages

_env = Environment(
    loader=PackageLoader("tollhouse.web", "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)
_env.filters["strong"] = lambda value: Markup("<strong>{}</strong>").format(value)
_env.filters["code"] = lambda value: Markup("<code>{}</code>").format(value)


def content_security_policy(form_targets: Iterable[str] = (), *, scripts: bool = False) -> str:
    """No inline script, no external assets, no framing; ``scripts``: the server's own
    static scripts only (the passkey pages: WebAuthn needs JavaScript).

    ``form-action`` also lists the client's origin: browsers apply it to the redirect
    that follows a form post (consent → client callback).
    """
    targets = " ".join(["'self'", *sorted(set(form_targets))])
    return (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        + ("script-src 'self'; " if scripts else "")
        + f"form-action {targets}; frame-ancestors 'none'; base-uri 'none'"
    )


def html(
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    form_targets: Iterable[str] = (),
    headers: dict[str, str] | None = None,
    scripts: bool = False,
) -> HTMLResponse:
    body = _env.get_template(template).render(**context)
    response = HTMLResponse(body, status_code=status)
    policy = content_security_policy(form_targets, scripts=scripts)
    response.headers["Content-Security-Policy"] = policy
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def page(
    template: str,
    context: dict[str, Any],
    *,
    messages: Messages,
    branding: Branding,
    status: int = 200,
    form_targets: Iterable[str] = (),
    headers: dict[str, str] | None = None,
    scripts: bool = False,
) -> HTMLResponse:
    """A page in the locale of ``messages``, with the operator's name and logo."""

    def translate(key: str, **values: object) -> Markup:
        # The catalogue text is escaped; Markup.format escapes every value not marked safe.
        return escape(messages(key)).format(**values)

    response = html(
        template,
        {
            **context,
            "t": translate,
            "lang": messages.locale,
            "operator_name": branding.name,
            "logo_url": branding.logo_url,
            "passkey_script": scripts,
        },
        status=status,
        form_targets=form_targets,
        headers=headers,
        scripts=scripts,
    )
    response.headers["Content-Language"] = messages.locale
    return response


RETRY_AFTER = "5"
"""Seconds a client should wait after a 503 (``temporarily_unavailable``)."""


class ProtocolJsonResponse(Response):
    """A JSON response that hands its RFC error code (if any) to the access log."""

    oauth_error: str | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.oauth_error is not None:
            scope.setdefault("state", {})["oauth_error"] = self.oauth_error
        await super().__call__(scope, receive, send)


def _dumps(body: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON with orjson (several times faster than ``json`` on the token
    endpoint's small bodies); anything orjson refuses (non-str keys, huge ints) falls
    back to the standard library."""
    try:
        return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(body, separators=(",", ":")).encode("utf-8")


def _result_headers(result: JsonResult) -> dict[str, str]:
    headers = result.headers
    if result.status == 503 and not any(k.lower() == "retry-after" for k in headers):
        # RFC 9110 §10.2.3 delay-seconds: the database or Redis is back within seconds.
        headers = {**headers, "Retry-After": RETRY_AFTER}
    return headers


def _oauth_error(result: JsonResult) -> str | None:
    error = result.body.get("error")
    return error if isinstance(error, str) else None


def json_response(result: JsonResult) -> Response:
    response = ProtocolJsonResponse(
        _dumps(result.body), result.status, _result_headers(result), media_type="application/json"
    )
    response.oauth_error = _oauth_error(result)
    return response


def json_messages(
    scope: Scope, result: JsonResult, extra: list[tuple[bytes, bytes]]
) -> tuple[Message, Message]:
    """:func:`json_response` as the two ASGI messages to ``send`` (web/fast_lane.py), with
    the ``extra`` headers every response carries (web/request_context.py). Everything
    that can fail happens here, before the first message is sent."""
    body = _dumps(result.body)
    error = _oauth_error(result)
    if error is not None:
        scope.setdefault("state", {})["oauth_error"] = error
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("latin-1")),
    ]
    headers.extend(
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in _result_headers(result).items()
    )
    headers += extra
    start: Message = {"type": "http.response.start", "status": result.status, "headers": headers}
    return start, {"type": "http.response.body", "body": body}


def json_body(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return json_response(JsonResult(status, body, headers or {}))


def redirect(result: Redirect, *, status: int = 303) -> RedirectResponse:
    response = RedirectResponse(result.location, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response
