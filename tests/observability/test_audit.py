"""One JSON audit line per security event, with the request it happened in."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator

from tollhouse.logs import JsonFormatter
from tollhouse.observability import metrics
from tollhouse.observability.audit import (
    AuditTrail,
    RequestInfo,
    bind_request,
    unbind_request,
)
from tollhouse.protocol.events import (
    AssertionReplayed,
    BackchannelLogout,
    CodeReplayed,
    ConsentDecided,
    FamilyRevoked,
    LoginFailed,
    LoginSucceeded,
    RefreshReplayed,
    SecurityEvent,
    TokenIssued,
    TokenRevoked,
)


@contextlib.contextmanager
def captured(name: str) -> Iterator[io.StringIO]:
    """JSON lines of one logger, whatever the logging set-up of the process."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def emit_all(events: list[SecurityEvent]) -> list[dict[str, object]]:
    with captured("tollhouse.audit") as stream:
        trail = AuditTrail()
        for event in events:
            trail.emit(event)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_event_is_one_json_line_on_the_audit_logger_with_the_request() -> None:
    token = bind_request(RequestInfo("req-42", "203.0.113.7"))
    try:
        [line] = emit_all([LoginSucceeded("user-1", "web")])
    finally:
        unbind_request(token)
    assert line["logger"] == "tollhouse.audit"
    assert line["event"] == "login_success"
    assert line["user_id"] == "user-1"
    assert line["client_id"] == "web"
    assert line["request_id"] == "req-42"
    assert line["client_ip"] == "203.0.113.7"


def test_event_names_cover_every_security_event() -> None:
    lines = emit_all(
        [
            LoginSucceeded("u"),
            LoginFailed("web"),
            ConsentDecided("web", "u", allowed=False, scopes=("openid", "read_sensors")),
            TokenIssued("access_token", "web", "u", jti="j1", audience="https://api.test"),
            TokenRevoked("j1", "revoked_by_client"),
            FamilyRevoked("f1", "refresh_replay"),
            RefreshReplayed("f1", "web"),
            CodeReplayed("web"),
            AssertionReplayed("web"),
        ]
    )
    assert [line["event"] for line in lines] == [
        "login_success",
        "login_failure",
        "consent",
        "token_issued",
        "token_revoked",
        "family_revoked",
        "refresh_replay",
        "code_replay",
        "assertion_replay",
    ]
    consent = lines[2]
    assert consent["decision"] == "deny" and "allowed" not in consent
    assert consent["scopes"] == "openid read_sensors"
    assert [line["level"] for line in lines[-3:]] == ["warning", "warning", "warning"]
    assert "request_id" not in lines[0]  # outside a request: no invented id


def test_events_move_the_counters() -> None:
    def count(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    before = (
        count("tollhouse_tokens_issued_total", kind="refresh_token"),
        count("tollhouse_revocations_total", reason="code_reuse"),
        count("tollhouse_refresh_replays_total"),
        count("tollhouse_login_total", result="failure"),
    )
    emit_all(
        [
            TokenIssued("refresh_token", "web", "u", family_id="f"),
            TokenRevoked("j", "code_reuse"),
            FamilyRevoked("f", "code_reuse"),
            RefreshReplayed("f", "web"),
            LoginFailed(),
        ]
    )
    after = (
        count("tollhouse_tokens_issued_total", kind="refresh_token"),
        count("tollhouse_revocations_total", reason="code_reuse"),
        count("tollhouse_refresh_replays_total"),
        count("tollhouse_login_total", result="failure"),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 2, 1, 1]


def test_back_channel_outcomes_are_audited_and_counted_by_result() -> None:
    def count(result: str) -> float:
        name = "tollhouse_backchannel_logouts_total"
        return metrics.REGISTRY.get_sample_value(name, {"result": result}) or 0.0

    before = count("refused"), count("delivered")
    delivered, refused = emit_all(
        [
            BackchannelLogout("web", "delivered", 2, "200"),
            BackchannelLogout("web", "refused", 1, "rp.test resolves to 127.0.0.1"),
        ]
    )
    assert (count("refused"), count("delivered")) == (before[0] + 1, before[1] + 1)
    assert delivered["event"] == "backchannel_logout" and delivered["level"] == "info"
    assert (delivered["result"], delivered["attempts"]) == ("delivered", 2)
    assert refused["level"] == "warning" and refused["msg"] == "back-channel logout token refused"


def test_rate_limited_counter_is_exported_for_the_rate_limiter() -> None:
    name = "tollhouse_rate_limited_total"
    before = metrics.REGISTRY.get_sample_value(name, {"endpoint": "/token"}) or 0.0
    metrics.rate_limited("/token")
    assert metrics.REGISTRY.get_sample_value(name, {"endpoint": "/token"}) == before + 1


def test_an_audit_failure_never_reaches_the_caller() -> None:
    class Broken:
        name = "broken"

    with captured("tollhouse.error") as stream, captured("tollhouse.audit"):
        AuditTrail().emit(Broken())  # type: ignore[arg-type]
    assert "audit event not recorded" in stream.getvalue()


def test_below_the_log_level_there_is_no_line_but_the_counter_moves() -> None:
    """At --log-level warning an issued token writes no audit line (its fields are not
    even built), and tollhouse_tokens_issued_total still counts it."""
    name, labels = "tollhouse_tokens_issued_total", {"kind": "access_token"}
    before = metrics.REGISTRY.get_sample_value(name, labels) or 0.0
    with captured("tollhouse.audit") as stream:
        logging.getLogger("tollhouse.audit").setLevel(logging.WARNING)
        AuditTrail().emit(TokenIssued("access_token", "web", "u", jti="j9"))
    assert stream.getvalue() == ""
    assert metrics.REGISTRY.get_sample_value(name, labels) == before + 1

    class Broken:  # fails in audit_fields, as the test above shows
        name = "broken"

    with captured("tollhouse.error") as errors, captured("tollhouse.audit"):
        logging.getLogger("tollhouse.audit").setLevel(logging.WARNING)
        AuditTrail().emit(Broken())  # type: ignore[arg-type]
    assert errors.getvalue() == ""


def test_lines_logged_directly_on_the_audit_logger_get_the_request_too() -> None:
    token = bind_request(RequestInfo("req-7", "198.51.100.1"))
    try:
        with captured("tollhouse.audit") as stream:
            logging.getLogger("tollhouse.audit").info("session ended", extra={"event": "x"})
            logging.getLogger("tollhouse.audit").info("own id", extra={"request_id": "mine"})
    finally:
        unbind_request(token)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["request_id"], first["client_ip"]) == ("req-7", "198.51.100.1")
    assert second["request_id"] == "mine"
