"""What every sign-in page (login, consent, second factor, passkey) does with its
posted form and its ``form-action`` policy."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

from tollhouse.protocol.interactions import Pending, Stage
from tollhouse.provider import Provider
from tollhouse.web.cookies import CSRF, read_cookie
from tollhouse.web.parsing import form_parameters


def form_targets(pending: Pending) -> tuple[str, ...]:
    """Browsers apply ``form-action`` to the redirect after the post: the client's."""
    parts = urlsplit(pending.request.redirect_uri)
    return (f"{parts.scheme}://{parts.netloc}",)


async def pending_form(
    request: Request, provider: Provider, stage: Stage
) -> tuple[Pending, dict[str, str]]:
    """The posted form of a page, its interaction and a checked CSRF token."""
    form = await form_parameters(request)
    pending = await provider.sign_in.open(form.get("interaction"), stage)
    provider.sign_in.check_csrf(
        pending, form.get("csrf_token"), read_cookie(request, provider, CSRF)
    )
    return pending, form
