"""Walk the authorization code flow over HTTP as a browser would."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from tests.e2e.conftest import CALLBACK, Seed
from tests.e2e.forms import parse


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def code_params(seed: Seed, challenge: str, **extra: str) -> dict[str, str]:
    """/authorize parameters of a code request with PKCE (S256) by the seeded
    confidential client for ``read_sensors``; ``extra`` adds or replaces parameters."""
    return {
        "response_type": "code",
        "client_id": seed.confidential_id,
        "redirect_uri": CALLBACK,
        "scope": "read_sensors",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


@dataclass
class Callback:
    url: str
    params: dict[str, str]

    @property
    def code(self) -> str:
        return self.params["code"]


def browse(
    http: httpx.Client,
    params: dict[str, str],
    *,
    username: str | None = None,
    password: str | None = None,
    decision: str = "allow",
    max_steps: int = 10,
) -> Callback | httpx.Response:
    """Follow /authorize through login and consent until the client's redirect.

    Returns the callback, or the response of a page that stopped the walk (an error page).
    """
    response = http.get("/authorize", params=params)
    base = str(http.base_url)
    for _ in range(max_steps):
        if response.is_redirect:
            location = urljoin(base, response.headers["location"])
            if not location.startswith(base.rstrip("/")):
                query = parse_qs(urlsplit(location).query)
                return Callback(location, {k: v[0] for k, v in query.items()})
            response = http.get(location)
            continue
        if response.status_code not in (200, 400):
            return response
        page = parse(response.text)
        # The sign-in page may offer a passkey beside the password form: take the latter.
        forms = [form for form in page.forms if "password" in form.inputs] or page.forms
        if len(forms) != 1:
            return response
        form = forms[0]
        data = dict(form.inputs)
        action = urljoin(str(response.url), form.action or "")
        if "password" in form.inputs:
            retried = data.get("username") == username and response.status_code == 400
            if username is None or retried:
                return response
            data["username"] = username
            data["password"] = password or ""
            username = None  # one attempt
        else:
            data["decision"] = decision
        response = http.post(action, data=data)
    raise AssertionError("the flow did not finish")


def exchange(
    http: httpx.Client,
    code: str,
    *,
    verifier: str | None,
    redirect_uri: str | None,
    auth: tuple[str, str] | None = None,
    client_id: str | None = None,
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code}
    if verifier is not None:
        data["code_verifier"] = verifier
    if redirect_uri is not None:
        data["redirect_uri"] = redirect_uri
    if client_id is not None:
        data["client_id"] = client_id
    data.update(extra or {})
    return http.post("/token", data=data, auth=auth)
