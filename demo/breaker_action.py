"""Grid-Monitor's "Open breaker": an action the sensors API allows only after a
passkey sign-in (RFC 9470 step-up).

The API answers ``401`` with ``WWW-Authenticate: Bearer
error="insufficient_user_authentication", acr_values="phr", max_age="300"``; Grid-Monitor
then sends the user to the IdP's ``/authorize`` with those ``acr_values`` and
``max_age`` and, back at ``/callback`` with tokens saying ``acr: phr``, shows the action
again (``/breakers/{breaker}``) to confirm it.
"""

from __future__ import annotations

import hmac
import logging
import re
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from demo.oidc import LoginError

log = logging.getLogger("demo.grid_monitor")

BREAKERS = {"f3": "Feeder F3 breaker", "t1": "Transformer T1 breaker"}
_PARAM = re.compile(r'(acr_values|max_age)="([^"\\]{1,200})"')


def step_up_parameters(challenge: str) -> dict[str, str] | None:
    """The ``acr_values`` and ``max_age`` an RFC 9470 §3 challenge asks for, or None
    when it is not ``insufficient_user_authentication``."""
    if 'error="insufficient_user_authentication"' not in challenge:
        return None
    return dict(_PARAM.findall(challenge))


def _breaker(request: Request) -> str | None:
    breaker = str(request.path_params["breaker"])
    return breaker if breaker in BREAKERS else None


async def breaker_page(request: Request) -> Response:
    """The confirmation page, shown again after a step-up sign-in."""
    from demo.grid_monitor import monitor_of, session_of

    monitor, session, breaker = monitor_of(request), session_of(request), _breaker(request)
    if session is None or session.tokens is None:
        return RedirectResponse("/", status_code=303)
    if breaker is None:
        return monitor.render("error.html", 404, message="There is no such breaker.")
    claims: dict[str, Any] = dict(session.tokens.id_claims)
    return monitor.render(
        "breaker.html", breaker=breaker, title=BREAKERS[breaker], csrf=session.csrf,
        user=session.user, acr=claims.get("acr"), result=None,
    )  # fmt: skip


async def open_breaker(request: Request) -> Response:
    """``POST /breakers/{breaker}/open``: call the API; on a step-up challenge, sign in
    again at the level it names and come back to confirm."""
    from demo.grid_monitor import SignedOut, form_of, monitor_of, session_of, with_cookie

    monitor, session, breaker = monitor_of(request), session_of(request), _breaker(request)
    if session is None or session.tokens is None:
        return RedirectResponse("/", status_code=303)
    sent = (await form_of(request)).get("csrf_token", "")
    if breaker is None or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        return monitor.render("error.html", 400, message="The form has expired.")
    try:
        tokens = await monitor.fresh_tokens(session)
        answer = await monitor.api.post(
            f"/breakers/{breaker}/open", headers={"Authorization": f"Bearer {tokens.access_token}"}
        )
    except SignedOut:
        return with_cookie(RedirectResponse("/?expired=1", status_code=303), None)
    except httpx.HTTPError:
        return monitor.render("error.html", 502, message="The sensors API cannot be reached.")
    wanted = step_up_parameters(answer.headers.get("www-authenticate", ""))
    if answer.status_code == 401 and wanted is not None:
        try:
            url, session.pending = await monitor.rp.authorization_url(wanted)
        except (httpx.HTTPError, LoginError):
            return monitor.render("error.html", 502, message="The identity provider failed.")
        session.resume = breaker
        log.info("step-up for breaker %s: %s", breaker, wanted)
        return RedirectResponse(url, status_code=303)
    if answer.status_code != 200:
        return monitor.render("error.html", 502, message=f"The API answered {answer.status_code}.")
    session.resume = None
    return monitor.render(
        "breaker.html", breaker=breaker, title=BREAKERS[breaker], csrf=session.csrf,
        user=session.user, acr=answer.json().get("acr"), result=answer.json(),
    )  # fmt: skip


def routes() -> list[Route]:
    return [
        Route("/breakers/{breaker}", breaker_page, methods=["GET"]),
        Route("/breakers/{breaker}/open", open_breaker, methods=["POST"]),
    ]
