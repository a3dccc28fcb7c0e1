"""Prometheus metrics of the identity provider (Prometheus text exposition format).

Every metric lives here, in one registry, so the names are found in one place and the
rest of the code calls small typed functions instead of touching ``prometheus_client``.
Label values are bounded: route templates (never raw paths), grant types the server
knows, RFC 6749 §5.2 error codes, fixed revocation reasons.

``tollhouse serve --workers N`` runs N processes. prometheus_client's multiprocess mode
then keeps each process's values in memory-mapped files under ``PROMETHEUS_MULTIPROC_DIR``
(``<data-dir>/metrics``, emptied at start by :func:`prepare_multiprocess`) and
:func:`exposition` sums them, so any worker answers ``/metrics`` for all.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Collection
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from tollhouse.protocol.events import (
    BackchannelLogout,
    CodeReplayed,
    ConsentDecided,
    DeviceFlow,
    FamilyRevoked,
    LoginFailed,
    LoginSucceeded,
    RefreshReplayed,
    SecurityEvent,
    TokenIssued,
    TokenRevoked,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"
"""The ``endpoint`` label of a request no route matched (404s): never the raw path."""

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

HTTP_REQUESTS = Counter(
    "tollhouse_http_requests_total",
    "HTTP requests by route template and response status.",
    ["endpoint", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "tollhouse_http_request_duration_seconds",
    "Time from the request to the end of the response, by route template.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
TOKEN_REQUESTS = Counter(
    "tollhouse_token_requests_total",
    'Token endpoint requests by grant type and outcome ("ok" or the RFC 6749 error code).',
    ["grant_type", "status"],
    registry=REGISTRY,
)
TOKENS_ISSUED = Counter(
    "tollhouse_tokens_issued_total",
    "Tokens issued, by kind (access_token, refresh_token, id_token).",
    ["kind"],
    registry=REGISTRY,
)
REVOCATIONS = Counter(
    "tollhouse_revocations_total",
    "Revoked credentials (access tokens put on the revocation list and refresh token "
    "families) by reason.",
    ["reason"],
    registry=REGISTRY,
)
REFRESH_REPLAYS = Counter(
    "tollhouse_refresh_replays_total",
    "Rotated refresh tokens presented again (RFC 9700 4.14.2); each revokes its family.",
    registry=REGISTRY,
)
CODE_REPLAYS = Counter(
    "tollhouse_code_replays_total",
    "Authorization codes presented more than once (RFC 6749 4.1.2).",
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "tollhouse_rate_limited_total",
    "Requests refused with 429 by a rate limit, by route template.",
    ["endpoint"],
    registry=REGISTRY,
)
LOGINS = Counter(
    "tollhouse_login_total",
    "Password sign-ins by result (success, failure).",
    ["result"],
    registry=REGISTRY,
)
CONSENTS = Counter(
    "tollhouse_consent_total",
    "Consent decisions (allow, deny).",
    ["decision"],
    registry=REGISTRY,
)
BACKCHANNEL_LOGOUTS = Counter(
    "tollhouse_backchannel_logouts_total",
    "Back-channel logout tokens by outcome: delivered, failed (after retries), refused "
    "(an internal target of a client registered over HTTP), dropped (queue full).",
    ["result"],
    registry=REGISTRY,
)
ACCESS_LOG_DROPPED = Counter(
    "tollhouse_access_log_dropped_total",
    "Access log lines dropped because their destination (the file or stderr) took "
    "nothing for longer than the access log buffer holds; the log marks each gap.",
    registry=REGISTRY,
)
DEVICE_AUTHORIZATIONS = Counter(
    "tollhouse_device_authorizations_total",
    "RFC 8628 device authorizations by outcome (requested, approved, denied, expired: "
    "a poll answered expired_token, wrong_user_code: a code typed at /device that "
    "matches no pending request).",
    ["outcome"],
    registry=REGISTRY,
)

_ERROR_CODE = re.compile(r"[a-z_]{1,40}")

MAX_CHILDREN = 4096
_children: dict[tuple[object, ...], Any] = {}


def _labelled(metric: Counter | Histogram, *values: object) -> Any:
    """``metric.labels(*values)``, kept: ``labels()`` checks and joins its arguments under
    a lock on every call, and the hot endpoints call it several times per request. The
    label values are bounded (see above), and so is this cache, emptied when it holds
    ``MAX_CHILDREN``."""
    key = (metric, *values)
    child = _children.get(key)
    if child is None:
        if len(_children) >= MAX_CHILDREN:
            _children.clear()
        child = _children[key] = metric.labels(*(str(value) for value in values))
    return child


def observe_request(endpoint: str, status: int, seconds: float) -> None:
    """One HTTP request; ``endpoint`` is a route template such as ``/token``."""
    _labelled(HTTP_REQUESTS, endpoint, status).inc()
    _labelled(HTTP_DURATION, endpoint).observe(seconds)


def observe_token_request(
    grant_type: str | None, supported: Collection[str], error: str | None
) -> None:
    """One ``/token`` request: ``error`` is the RFC 6749 §5.2 code, ``None`` on success.

    A grant type the server does not support is counted as ``unsupported`` (a missing
    one as ``none``), so clients cannot create label values.
    """
    if grant_type is None:
        label = "none"
    elif grant_type in supported:
        label = grant_type
    else:
        label = "unsupported"
    status = "ok" if error is None else error if _ERROR_CODE.fullmatch(error) else "error"
    _labelled(TOKEN_REQUESTS, label, status).inc()


def rate_limited(endpoint: str) -> None:
    """Count one request refused by a rate limit; ``endpoint`` is a route template
    (``/token``, ``/login``, ``/register``), never a raw path."""
    RATE_LIMITED.labels(endpoint).inc()


def access_log_dropped() -> None:
    """Count one access log line dropped (observability/access_log.py)."""
    ACCESS_LOG_DROPPED.inc()


def record_event(event: SecurityEvent) -> None:
    """The counters a security event moves (see :mod:`tollhouse.protocol.events`)."""
    if isinstance(event, TokenIssued):
        _labelled(TOKENS_ISSUED, event.kind).inc()
    elif isinstance(event, TokenRevoked | FamilyRevoked):
        REVOCATIONS.labels(event.reason).inc()
    elif isinstance(event, RefreshReplayed):
        REFRESH_REPLAYS.inc()
    elif isinstance(event, CodeReplayed):
        CODE_REPLAYS.inc()
    elif isinstance(event, LoginSucceeded):
        LOGINS.labels("success").inc()
    elif isinstance(event, LoginFailed):
        LOGINS.labels("failure").inc()
    elif isinstance(event, ConsentDecided):
        CONSENTS.labels("allow" if event.allowed else "deny").inc()
    elif isinstance(event, BackchannelLogout):
        BACKCHANNEL_LOGOUTS.labels(event.result).inc()
    elif isinstance(event, DeviceFlow):
        _labelled(DEVICE_AUTHORIZATIONS, event.outcome).inc()


def multiprocess_mode() -> bool:
    """True when values are kept in files shared by several processes."""
    return bool(os.environ.get(MULTIPROC_ENV))


def prepare_multiprocess(directory: Path) -> None:
    """Empty (or create) ``directory`` and name it in the environment, before any worker
    process starts: workers inherit the variable and write their values there.

    Must run before the workers import this module; the calling process itself keeps
    its in-memory values (it does not serve).
    """
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(mode=0o700, parents=True)
    os.environ[MULTIPROC_ENV] = str(directory.resolve())


def exposition() -> tuple[bytes, str]:
    """The ``/metrics`` body and its content type; in multiprocess mode, the sum over
    every worker that has written values."""
    if multiprocess_mode():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
