"""Who may read ``/metrics`` on the main listener.

The counters tell an outsider what the server does (sign-in failures, replays, load),
so the public listener answers:

- local callers: the client address step 1 of the pipeline settled on (web/proxy.py)
  is loopback. That is the forwarded client when the peer is a trusted proxy, so a
  proxy on the same host does not make the traffic it forwards local; and a loopback
  peer that is *not* a trusted proxy but sends forwarding headers is taken for a proxy
  too and is not local (the headers only ever make a request less trusted);
- callers with ``Authorization: Bearer <TOLLHOUSE_METRICS_TOKEN>`` (RFC 6750 §2.1),
  compared in constant time; anyone else gets 401 with a ``Bearer`` challenge
  (RFC 6750 §3, with ``error="invalid_token"`` when a token was sent);
- nobody else: without a token configured, 403 naming the ways to scrape from
  elsewhere (the token, or ``serve --metrics-port``, web/metrics_listener.py). A 403
  rather than a 404: an operator whose scraper stopped working reads why.

``TOLLHOUSE_METRICS_PUBLIC=true`` answers everyone, for a network that keeps the port
private by other means.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.types import Scope

from tollhouse.errors import AccessDenied, InvalidToken
from tollhouse.hosts import is_loopback
from tollhouse.protocol.endpoints.registration import bearer_token
from tollhouse.protocol.results import NO_STORE, JsonResult, error_json
from tollhouse.provider.parts import MetricsAccess

REALM = 'Bearer realm="metrics"'
FORWARDING_HEADERS = frozenset({b"x-forwarded-for", b"forwarded", b"x-real-ip"})


def is_local(scope: Scope) -> bool:
    """The caller is on this host (module docstring)."""
    state = scope.get("state", {})
    peer = scope.get("client")
    client = state.get("client_ip", peer[0] if peer else None)
    if not client or not is_loopback(client):
        return False
    if state.get("trusted_peer"):
        return True
    return not any(name.lower() in FORWARDING_HEADERS for name, _ in scope.get("headers", ()))


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def token_matches(presented: str, expected: str) -> bool:
    """Constant-time comparison: equal-length digests, so neither the content nor the
    length of the configured token shows in the timing."""
    return hmac.compare_digest(_digest(presented), _digest(expected))


def refusal(scope: Scope, access: MetricsAccess) -> JsonResult | None:
    """None when this caller may read ``/metrics``, else the 401 or 403."""
    if access.public or is_local(scope):
        return None
    expected = access.token
    if expected is None:
        return error_json(
            AccessDenied(
                "/metrics answers loopback callers only; set TOLLHOUSE_METRICS_TOKEN to "
                "scrape it with a bearer token, or serve it on its own port with --metrics-port."
            )
        )
    authorization = None
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization":
            authorization = value.decode("latin-1")
            break
    presented = bearer_token(authorization)
    if presented is None:
        return JsonResult(401, {}, {**NO_STORE, "WWW-Authenticate": REALM})
    if token_matches(presented, expected):
        return None
    challenge = f'{REALM}, error="invalid_token"'
    return error_json(
        InvalidToken("The metrics token is wrong."), headers={"WWW-Authenticate": challenge}
    )
