"""Operators' view of a real server: the JSON audit trail of a whole flow with revocation
and replays (and no secret in any log line), /metrics, /readyz, and X-Forwarded-* from a
trusted proxy."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.e2e.backends import BACKEND, backend
from tests.e2e.conftest import (
    CALLBACK,
    Seed,
    Server,
    free_port,
    seed_database,
    start_server,
    stop,
)
from tests.e2e.flows import Callback, browse, code_params, exchange, pkce_pair
from tests.e2e.test_diagnosis import access_lines

FORWARDED_CLIENT = "203.0.113.9"


@dataclass
class Walk:
    """What one full walk produced: every secret that went over the wire."""

    secrets: set[str] = field(default_factory=set)
    request_ids: set[str] = field(default_factory=set)


def authorize_params(server: Server, challenge: str) -> dict[str, str]:
    return code_params(server.seed, challenge, state="st-obs")


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that trusts 127.0.0.1 as its reverse proxy (SQLite, or PostgreSQL +
    Redis with TOLLHOUSE_TEST_BACKEND=postgresql)."""
    data_dir = tmp_path_factory.mktemp("obs")
    with backend(data_dir) as (database_url, backend_args):
        seed = Seed()
        asyncio.run(seed_database(database_url, seed))
        port = free_port()
        process, log_path = start_server(
            data_dir, port, "--trusted-proxies", "127.0.0.1", *backend_args
        )
        try:
            yield Server(
                f"http://127.0.0.1:{port}", data_dir, database_url, seed, process, log_path
            )
        finally:
            stop(process)


@pytest.fixture(scope="module")
def walk(proxied: Server) -> Walk:
    """Failed then successful login, consent, code exchange, refresh, refresh replay,
    code replay, revocation: every security event once."""
    server, seed, done = proxied, proxied.seed, Walk()
    done.secrets |= {seed.password, seed.confidential_secret}
    auth = (seed.confidential_id, seed.confidential_secret)
    headers = {"X-Forwarded-For": FORWARDED_CLIENT, "X-Forwarded-Proto": "http"}
    with httpx.Client(
        base_url=server.base_url, headers=headers, follow_redirects=False, timeout=10
    ) as http:

        def remember(response: httpx.Response) -> httpx.Response:
            done.request_ids.add(response.headers["x-request-id"])
            return response

        http.event_hooks["response"] = [remember]
        verifier, challenge = pkce_pair()
        done.secrets.add(verifier)
        failed = browse(
            http,
            authorize_params(server, challenge),
            username=seed.username,
            password="wrong password 123",
        )
        assert isinstance(failed, httpx.Response) and failed.status_code == 400
        done.secrets.add("wrong password 123")
        result = browse(
            http,
            authorize_params(server, challenge),
            username=seed.username,
            password=seed.password,
        )
        assert isinstance(result, Callback), result
        done.secrets.add(result.code)
        done.secrets |= {cookie.value for cookie in http.cookies.jar if cookie.value}
        first = exchange(http, result.code, verifier=verifier, redirect_uri=CALLBACK, auth=auth)
        assert first.status_code == 200, first.text
        tokens = first.json()
        done.secrets |= {tokens["access_token"], tokens["refresh_token"]}
        rotated = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=auth,
        )
        assert rotated.status_code == 200, rotated.text
        done.secrets |= {rotated.json()["access_token"], rotated.json()["refresh_token"]}
        replay = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=auth,
        )
        assert replay.json()["error"] == "invalid_grant"

        verifier, challenge = pkce_pair()
        done.secrets.add(verifier)
        again = browse(http, authorize_params(server, challenge))
        assert isinstance(again, Callback), again
        done.secrets.add(again.code)
        used = exchange(http, again.code, verifier=verifier, redirect_uri=CALLBACK, auth=auth)
        assert used.status_code == 200
        done.secrets.add(used.json()["access_token"])
        reused = exchange(http, again.code, verifier=verifier, redirect_uri=CALLBACK, auth=auth)
        assert reused.json()["error"] == "invalid_grant"

        machine = http.post(
            "/token",
            data={"grant_type": "client_credentials"},
            auth=(seed.machine_id, seed.confidential_secret),
        )
        assert machine.status_code == 200, machine.text
        done.secrets.add(machine.json()["access_token"])
        revoked = http.post(
            "/revoke",
            data={"token": machine.json()["access_token"]},
            auth=(seed.machine_id, seed.confidential_secret),
        )
        assert revoked.status_code == 200
    access_lines(server, done.request_ids)  # written just after each response
    return done


def log_lines(server: Server) -> list[dict[str, Any]]:
    lines = []
    for raw in server.logs().splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


def test_every_security_event_is_one_audit_line_with_request_id_and_client_ip(
    proxied: Server, walk: Walk
) -> None:
    audit = [line for line in log_lines(proxied) if line["logger"] == "tollhouse.audit"]
    events = {line["event"] for line in audit}
    assert events >= {
        "login_failure",
        "login_success",
        "consent",
        "token_issued",
        "refresh_replay",
        "family_revoked",
        "code_replay",
        "token_revoked",
    }
    for line in audit:
        assert line["request_id"] in walk.request_ids, line
        assert line["client_ip"] == FORWARDED_CLIENT, line
    issued = {line["kind"] for line in audit if line["event"] == "token_issued"}
    assert {"access_token", "refresh_token"} <= issued
    reasons = {line["reason"] for line in audit if line["event"] == "token_revoked"}
    assert {"refresh_replay", "code_reuse", "revoked_by_client"} <= reasons


def test_access_log_has_one_line_per_request_with_the_forwarded_client(
    proxied: Server, walk: Walk
) -> None:
    access = [line for line in log_lines(proxied) if line["logger"] == "tollhouse.access"]
    ours = [line for line in access if line["request_id"] in walk.request_ids]
    assert len(ours) == len(walk.request_ids)
    assert {line["client"] for line in ours} == {FORWARDED_CLIENT}


def test_no_secret_code_token_or_password_appears_in_any_log_line(
    proxied: Server, walk: Walk
) -> None:
    text = proxied.logs()
    leaked = [secret[:12] + "…" for secret in walk.secrets if secret in text]
    assert not leaked, f"found in the server log: {leaked}"
    assert len(walk.secrets) >= 12


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        got = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
        if got == wanted:
            return float(match.group(3))
    return 0.0


def test_metrics_count_requests_grants_tokens_revocations_replays_and_logins(
    proxied: Server, walk: Walk
) -> None:
    response = httpx.get(f"{proxied.base_url}/metrics")
    assert response.status_code == 200
    text = response.text
    assert metric(text, "tollhouse_http_requests_total", endpoint="/token", status="200") >= 3
    assert metric(text, "tollhouse_http_requests_total", endpoint="/authorize", status="302") >= 1
    assert metric(text, "tollhouse_http_request_duration_seconds_count", endpoint="/token") >= 5
    grants = "tollhouse_token_requests_total"
    assert metric(text, grants, grant_type="authorization_code", status="ok") == 2
    assert metric(text, grants, grant_type="authorization_code", status="invalid_grant") == 1
    assert metric(text, grants, grant_type="refresh_token", status="invalid_grant") == 1
    assert metric(text, grants, grant_type="client_credentials", status="ok") == 1
    assert metric(text, "tollhouse_tokens_issued_total", kind="access_token") == 4
    assert metric(text, "tollhouse_tokens_issued_total", kind="refresh_token") >= 2
    assert metric(text, "tollhouse_refresh_replays_total") == 1
    assert metric(text, "tollhouse_code_replays_total") == 1
    assert metric(text, "tollhouse_revocations_total", reason="revoked_by_client") == 1
    assert metric(text, "tollhouse_revocations_total", reason="refresh_replay") >= 1
    assert metric(text, "tollhouse_login_total", result="success") == 1
    assert metric(text, "tollhouse_login_total", result="failure") == 1
    # Route templates only: no raw path ever becomes a label value.
    assert "interaction=" not in text


def test_readyz_reports_database_and_keys(proxied: Server) -> None:
    response = httpx.get(f"{proxied.base_url}/readyz")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert checks == {"database": "ok", "signing_keys": "ok"} | (
        {"redis": "ok"} if BACKEND == "postgresql" else {}
    )


def test_hsts_follows_a_trusted_forwarded_proto(proxied: Server) -> None:
    via_https = httpx.get(f"{proxied.base_url}/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "max-age" in via_https.headers["strict-transport-security"]
    plain = httpx.get(f"{proxied.base_url}/healthz")
    assert "strict-transport-security" not in plain.headers


@pytest.fixture(scope="module")
def unproxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """No --trusted-proxies, and --redis pointing at a port where nothing listens."""
    data_dir = tmp_path_factory.mktemp("noredis")
    port = free_port()
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    process, log_path = start_server(data_dir, port, "--redis", dead_redis)
    try:
        yield Server(f"http://127.0.0.1:{port}", data_dir, "", Seed(), process, log_path)
    finally:
        stop(process)


def test_forwarded_headers_are_ignored_without_trusted_proxies(unproxied: Server) -> None:
    response = httpx.get(
        f"{unproxied.base_url}/healthz",
        headers={"X-Forwarded-For": "198.51.100.77", "X-Forwarded-Proto": "https"},
    )
    assert "strict-transport-security" not in response.headers
    request_id = response.headers["x-request-id"]
    line = access_lines(unproxied, {request_id})[request_id]
    assert line["client"] == "127.0.0.1"


def test_readyz_is_503_naming_redis_when_redis_is_down(unproxied: Server) -> None:
    response = httpx.get(f"{unproxied.base_url}/readyz", timeout=10)
    assert response.status_code == 503, response.text
    assert response.json()["failed"] == ["redis"]
    assert response.headers["retry-after"]
    assert httpx.get(f"{unproxied.base_url}/healthz").status_code == 200
