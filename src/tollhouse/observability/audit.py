"""The audit trail: one JSON line per security event on the ``tollhouse.audit`` logger.

Each line names the event (``login_success``, ``login_failure``, ``consent``,
``token_issued``, ``token_revoked``, ``family_revoked``, ``refresh_replay``,
``code_replay``, ``backchannel_logout``), the request id and client IP of the HTTP
request it happened in (the same request id as the access log line and the
``X-Request-Id`` response header; a back-channel delivery ends after its request, so
its line has none), and identifiers only. Events carry no secret by construction (see
:mod:`tollhouse.protocol.events`), so no code, token, password or client secret can
reach this log.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from tollhouse.observability import metrics
from tollhouse.observability.json_lines import JSON_LINES, STANDARD
from tollhouse.protocol.events import (
    AssertionReplayed,
    BackchannelLogout,
    CodeReplayed,
    ConsentDecided,
    DeviceFlow,
    FamilyRevoked,
    LoginFailed,
    LoginSucceeded,
    RefreshReplayed,
    SecondFactor,
    SecurityEvent,
    TokenIssued,
    TokenRevoked,
)

audit_log = logging.getLogger("tollhouse.audit")


@dataclass(frozen=True, slots=True)
class RequestInfo:
    request_id: str
    client_ip: str | None


_current: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "tollhouse_request", default=None
)


def bind_request(info: RequestInfo) -> contextvars.Token[RequestInfo | None]:
    """Make ``info`` the request of the running task (and of the tasks it starts)."""
    return _current.set(info)


def unbind_request(token: contextvars.Token[RequestInfo | None]) -> None:
    _current.reset(token)


def current_request() -> RequestInfo | None:
    return _current.get()


class RequestFields(logging.Filter):
    """Adds ``request_id`` and ``client_ip`` of the running request to every record of
    the logger it is attached to, unless the record has them already: audit lines that
    other modules log directly on ``tollhouse.audit`` carry them too."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = _current.get()
        if request is not None:
            if not hasattr(record, "request_id"):
                record.request_id = request.request_id
            if request.client_ip and not hasattr(record, "client_ip"):
                record.client_ip = request.client_ip
        return True


audit_log.addFilter(RequestFields())


def _add_request(fields: dict[str, Any]) -> None:
    """What :class:`RequestFields` adds to a record, for a line written without one."""
    request = _current.get()
    if request is not None:
        fields.setdefault("request_id", request.request_id)
        if request.client_ip:
            fields.setdefault("client_ip", request.client_ip)


_MESSAGES: dict[type[Any], str] = {
    LoginSucceeded: "login succeeded",
    LoginFailed: "login failed",
    ConsentDecided: "consent decided",
    TokenIssued: "token issued",
    TokenRevoked: "access token revoked",
    FamilyRevoked: "refresh token family revoked",
    RefreshReplayed: "refresh token replayed; its family was revoked",
    CodeReplayed: "authorization code replayed; tokens from its first use revoked",
    AssertionReplayed: "client assertion replayed; refused",
    BackchannelLogout: "back-channel logout token",
    DeviceFlow: "device authorization",
    SecondFactor: "second factor",
}
_WARNINGS = (RefreshReplayed, CodeReplayed, AssertionReplayed)


def audit_fields(event: SecurityEvent) -> dict[str, Any]:
    """The JSON fields of one event's line (without the request)."""
    fields: dict[str, Any] = {"event": event.name}
    for field in dataclasses.fields(event):
        value = getattr(event, field.name)
        if value is None:
            continue
        fields[field.name] = " ".join(value) if isinstance(value, tuple) else value
    if isinstance(event, ConsentDecided):
        fields["decision"] = "allow" if event.allowed else "deny"
        del fields["allowed"]
    return fields


def _is_warning(event: SecurityEvent) -> bool:
    if isinstance(event, BackchannelLogout):
        return event.result != "delivered"
    if isinstance(event, SecondFactor):
        return event.action in ("totp_failed", "totp_replayed", "factors_reset", "passkey_failed")
    return isinstance(event, _WARNINGS)


class AuditTrail:
    """Implements :class:`~tollhouse.protocol.events.Events`: writes the audit line and
    moves the Prometheus counters. Never raises."""

    def emit(self, event: SecurityEvent) -> None:
        try:
            metrics.record_event(event)
            level = logging.WARNING if _is_warning(event) else logging.INFO
            if not audit_log.isEnabledFor(level):
                return  # e.g. --log-level warning: no line, so no fields to build
            fields = audit_fields(event)  # the request is added by RequestFields
            message = _MESSAGES.get(type(event), event.name)
            if isinstance(event, BackchannelLogout):
                message = f"{message} {event.result}"
            elif isinstance(event, SecondFactor):
                message = f"{message} {event.action}"
            if JSON_LINES.accepts(audit_log, filters=1) and STANDARD.isdisjoint(fields):
                _add_request(fields)
                name = "warning" if level == logging.WARNING else "info"
                JSON_LINES.write(name, audit_log.name, message, fields)
            else:
                audit_log.log(level, message, extra=fields)
        except Exception:  # an audit failure must not fail the request it describes
            logging.getLogger("tollhouse.error").exception("audit event not recorded")
