"""Issue 21, item 2: back-channel logout as an SSRF probe, over real HTTP.

A client registered over HTTP (RFC 7591) or updated over it (RFC 7592) cannot aim a URL
the server fetches at loopback, private, link-local or otherwise internal addresses;
the address a name resolves to is checked again when the logout token is sent, and
the connection goes to the address checked (DNS rebinding). Logout tokens are sent
off the request path, with bounded retries. Operators choose internal targets through
the CLI or ``TOLLHOUSE_OUTBOUND_ALLOW``.

The guarded server runs with scripted DNS answers (tests/e2e/fake_dns.py); every
connection the tests allow goes to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from tests.e2e.conftest import (
    NO_REQUEST_LIMITS,
    TOLLHOUSE,
    Seed,
    Server,
    free_port,
    seed_database,
    start_server,
    stop,
    wait_healthy,
)
from tests.e2e.flows import Callback, browse, exchange, pkce_pair

FAKE_DNS = Path(__file__).with_name("fake_dns.py")
ANSWERS = {
    "intranet.partner.test": [["10.1.2.3"]],
    "dual.partner.test": [["127.0.0.1"]],
    "rebind.partner.test": [[], ["127.0.0.1"]],
}
"""Scripted DNS: ``rebind`` does not resolve at registration, then answers loopback."""
NATIVE_CB = "http://127.0.0.1:9300/cb"
DEADLINE = 15.0

INTERNAL_TARGETS = (
    "https://127.0.0.1/backchannel",
    "https://127.0.0.2:8443/backchannel",
    "http://10.0.0.1/",
    "https://10.0.0.1/",
    "https://172.16.5.4/bc",
    "https://192.168.1.20/bc",
    "http://169.254.169.254/",
    "https://169.254.169.254/latest/meta-data/",
    "http://[::1]/",
    "https://[::1]:8443/bc",
    "http://localhost/",
    "https://localhost/bc",
    "https://rp.localhost/bc",
    "http://[::ffff:127.0.0.1]/",
    "https://[::ffff:127.0.0.1]/bc",
    "https://[::ffff:a9fe:a9fe]/bc",
    "https://[64:ff9b::a9fe:a9fe]/bc",
    "https://[fe80::1]/bc",
    "https://[fd00::1]/bc",
    "https://[::]/bc",
    "https://0.0.0.0/bc",
    "https://100.64.0.1/bc",
    "https://224.0.0.1/bc",
    "https://127.1/bc",
    "https://2130706433/bc",
    "https://0x7f000001/bc",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://printer.local/bc",
    "https://intranet/bc",
    "https://intranet.partner.test/bc",
    "https://dual.partner.test/bc",
)


def launch(data_dir: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``tollhouse serve`` through fake_dns.py: the product's code with scripted DNS."""
    log_path = data_dir / f"server-{port}.log"
    with log_path.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, str(FAKE_DNS), "serve", "--insecure-http", "--host", "127.0.0.1",
             "--port", str(port), "--data-dir", str(data_dir)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **NO_REQUEST_LIMITS, **env},
        )  # fmt: skip
    wait_healthy(f"http://127.0.0.1:{port}", process, log_path)
    return process


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Default settings: registration with an initial access token, no allowed target."""
    data_dir = tmp_path_factory.mktemp("ssrf-guarded")
    database_url = f"sqlite:///{data_dir / 'tollhouse.db'}"
    seed = Seed()
    asyncio.run(seed_database(database_url, seed))
    port = free_port()
    env = {"TOLLHOUSE_TEST_RESOLVER": json.dumps(ANSWERS), "TOLLHOUSE_OUTBOUND_ALLOW": ""}
    process = launch(data_dir, port, env)
    log_path = data_dir / f"server-{port}.log"
    try:
        yield Server(f"http://127.0.0.1:{port}", data_dir, database_url, seed, process, log_path)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def allowing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``TOLLHOUSE_OUTBOUND_ALLOW=127.0.0.1``: self-registered clients may use the
    loopback receivers of these tests, and nothing else internal."""
    data_dir = tmp_path_factory.mktemp("ssrf-allowing")
    database_url = f"sqlite:///{data_dir / 'tollhouse.db'}"
    seed = Seed()
    asyncio.run(seed_database(database_url, seed))
    port = free_port()
    env = {"TOLLHOUSE_REGISTRATION": "open", "TOLLHOUSE_OUTBOUND_ALLOW": "127.0.0.1"}
    process, log_path = start_server(data_dir, port, env=env)
    try:
        yield Server(f"http://127.0.0.1:{port}", data_dir, database_url, seed, process, log_path)
    finally:
        stop(process)


def cli(server: Server, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLHOUSE_")}
    done = subprocess.run(
        [str(TOLLHOUSE), *args, "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, env=env, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def initial_token(server: Server) -> str:
    created = cli(server, "registration-token", "create", "--json", "--uses", "1")
    value: str = json.loads(created)["token"]
    return value


def register(http: httpx.Client, body: dict[str, Any], token: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return http.post("/register", content=json.dumps(body), headers=headers)


def web_client(backchannel: str) -> dict[str, Any]:
    # Names are unique (protocol/client_names.py): one per registration.
    return {
        "client_name": f"RP {secrets.token_hex(4)}",
        "redirect_uris": [NATIVE_CB],
        "token_endpoint_auth_method": "none",
        "backchannel_logout_uri": backchannel,
    }


def sign_in(http: httpx.Client, server: Server, client_id: str, *, password: bool) -> str:
    """The ID Token of a code flow for ``client_id`` in this browser's session."""
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code", "client_id": client_id, "redirect_uri": NATIVE_CB,
        "scope": "openid", "state": "s", "nonce": "n", "code_challenge": challenge,
        "code_challenge_method": "S256",
    }  # fmt: skip
    result = browse(
        http,
        params,
        username=server.seed.username if password else None,
        password=server.seed.password if password else None,
    )
    assert isinstance(result, Callback), getattr(result, "text", result)
    issued = exchange(
        http, result.code, verifier=verifier, redirect_uri=NATIVE_CB, client_id=client_id
    )
    assert issued.status_code == 200, issued.text
    id_token: str = issued.json()["id_token"]
    return id_token


def log_events(server: Server, client_id: str) -> list[dict[str, Any]]:
    found = []
    for line in server.logs().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == "backchannel_logout" and record.get("client_id") == client_id:
            found.append(record)
    return found


def wait_for(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class RelyingParty:
    """A back-channel logout receiver on 127.0.0.1: answers the statuses in ``plan``
    (then 200), after ``delay`` seconds; records each token when it arrives."""

    def __init__(self, plan: tuple[int, ...] = (), delay: float = 0.0) -> None:
        self.tokens: list[str] = []
        plan_left = list(plan)
        received = self.tokens

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                received.append(form["logout_token"][0])
                time.sleep(delay)
                self.send_response(plan_left.pop(0) if plan_left else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def relying_party() -> Iterator[Callable[..., RelyingParty]]:
    started: list[RelyingParty] = []

    def start(plan: tuple[int, ...] = (), delay: float = 0.0) -> RelyingParty:
        started.append(RelyingParty(plan, delay))
        return started[-1]

    yield start
    for party in started:
        party.close()


# Registration -----------------------------------------------------------------------


def test_registration_refuses_internal_targets_and_spends_nothing(guarded: Server) -> None:
    token = initial_token(guarded)
    port = free_port()
    targets = (f"http://127.0.0.1:{port}/backchannel", *INTERNAL_TARGETS)
    with guarded.client() as http:
        for target in targets:
            refused = register(http, web_client(target), token)
            assert refused.status_code == 400, (target, refused.text)
            error = refused.json()
            assert error["error"] == "invalid_client_metadata", (target, error)
            assert "backchannel_logout_uri" in error["error_description"], (target, error)
        metadata = register(
            http,
            {"grant_types": ["client_credentials"], "jwks_uri": "https://169.254.169.254/k"},
            token,
        )
        assert metadata.status_code == 400, metadata.text
        assert metadata.json()["error"] == "invalid_client_metadata"
        assert "jwks_uri" in metadata.json()["error_description"]
        # Every refusal left the single-use initial access token unspent.
        accepted = register(http, web_client("https://rp.partner.test/backchannel"), token)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["backchannel_logout_uri"] == "https://rp.partner.test/backchannel"


def test_refusals_say_why_without_a_500(guarded: Server) -> None:
    with guarded.client() as http:
        cloud = register(
            http, web_client("https://169.254.169.254/latest/"), initial_token(guarded)
        )
        resolved = register(
            http, web_client("https://intranet.partner.test/bc"), initial_token(guarded)
        )
    assert (cloud.status_code, resolved.status_code) == (400, 400)
    assert "link-local" in cloud.json()["error_description"]
    assert "10.1.2.3" in resolved.json()["error_description"]
    assert "private" in resolved.json()["error_description"]


def test_update_cannot_aim_at_internal_targets(guarded: Server) -> None:
    with guarded.client() as http:
        created = register(http, web_client("https://rp.partner.test/bc"), initial_token(guarded))
        assert created.status_code == 201, created.text
        client = created.json()
        bearer = {"Authorization": f"Bearer {client['registration_access_token']}"}
        for target in ("https://169.254.169.254/", "http://[::1]/bc", "https://10.9.8.7/bc"):
            update = {"client_id": client["client_id"], **web_client(target)}
            refused = http.put(
                client["registration_client_uri"], content=json.dumps(update), headers=bearer
            )
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"] == "invalid_client_metadata"
            assert "backchannel_logout_uri" in refused.json()["error_description"]
        # Nothing changed: the same registration access token reads the old URI.
        read = http.get(client["registration_client_uri"], headers=bearer)
    assert read.status_code == 200, read.text
    assert read.json()["backchannel_logout_uri"] == "https://rp.partner.test/bc"


# Sending ----------------------------------------------------------------------------


def test_a_name_rebound_to_loopback_is_not_contacted(
    guarded: Server, relying_party: Callable[..., RelyingParty]
) -> None:
    """The name did not resolve at registration (accepted, checked again at send time)
    and answers 127.0.0.1 when the token is sent: no connection reaches the listener
    on that port, while an operator's client (CLI) on loopback receives its token."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.5)
    operator_rp = relying_party()
    try:
        target = f"https://rebind.partner.test:{listener.getsockname()[1]}/bc"
        with guarded.client() as http:
            created = register(http, web_client(target), initial_token(guarded))
            assert created.status_code == 201, created.text
            rebound_id = created.json()["client_id"]
            operator = ("clients", "create", "--name", "Operator RP", "--public", "--json",
                        "--redirect-uri", NATIVE_CB, "--backchannel-logout-uri", operator_rp.uri)  # fmt: skip
            operator_id = json.loads(cli(guarded, *operator))["client_id"]
            time.sleep(1.1)  # every server sees a client created elsewhere within 1 s
            hint = sign_in(http, guarded, rebound_id, password=True)
            sign_in(http, guarded, operator_id, password=False)
            logout = http.get("/logout", params={"id_token_hint": hint})
            assert logout.status_code in (200, 303), logout.text

        wait_for(lambda: len(operator_rp.tokens) == 1, "the operator client's logout token")
        wait_for(lambda: bool(log_events(guarded, rebound_id)), "the refusal")
        (event,) = log_events(guarded, rebound_id)
        assert event["result"] == "refused" and "127.0.0.1" in event["detail"]
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    metrics = httpx.get(f"{guarded.base_url}/metrics").text
    assert 'tollhouse_backchannel_logouts_total{result="refused"} 1.0' in metrics


def test_logout_does_not_wait_for_a_slow_relying_party(
    allowing: Server, relying_party: Callable[..., RelyingParty]
) -> None:
    slow = relying_party(delay=5.0)
    with allowing.client() as http:
        created = register(http, web_client(slow.uri), None)
        assert created.status_code == 201, created.text
        hint = sign_in(http, allowing, created.json()["client_id"], password=True)
        started = time.monotonic()
        logout = http.get("/logout", params={"id_token_hint": hint})
        elapsed = time.monotonic() - started
    assert logout.status_code in (200, 303), logout.text
    assert elapsed < 2.0, f"/logout took {elapsed:.1f} s"
    wait_for(lambda: len(slow.tokens) == 1, "the slow relying party's logout token")
    wait_for(
        lambda: any(e["result"] == "delivered" for e in log_events(allowing, created.json()["client_id"])),
        "the delivery",
    )  # fmt: skip


def test_failed_deliveries_are_retried_a_bounded_number_of_times(
    allowing: Server, relying_party: Callable[..., RelyingParty]
) -> None:
    flaky = relying_party(plan=(503, 500))
    broken = relying_party(plan=(500,) * 10)
    with allowing.client() as http:
        flaky_id = register(http, web_client(flaky.uri), None).json()["client_id"]
        broken_id = register(http, web_client(broken.uri), None).json()["client_id"]
        hint = sign_in(http, allowing, flaky_id, password=True)
        sign_in(http, allowing, broken_id, password=False)
        assert http.get("/logout", params={"id_token_hint": hint}).status_code in (200, 303)

    wait_for(lambda: bool(log_events(allowing, flaky_id)), "the flaky party's outcome")
    wait_for(lambda: bool(log_events(allowing, broken_id)), "the broken party's outcome")
    (flaky_event,) = log_events(allowing, flaky_id)
    (broken_event,) = log_events(allowing, broken_id)
    assert (flaky_event["result"], flaky_event["attempts"]) == ("delivered", 3)
    assert len(flaky.tokens) == 3 and len(set(flaky.tokens)) == 1
    assert (broken_event["result"], broken_event["attempts"]) == ("failed", 3)
    time.sleep(0.5)
    assert len(broken.tokens) == 3


def test_the_allow_setting_admits_only_what_it_names(allowing: Server) -> None:
    with allowing.client() as http:
        other_loopback = register(http, web_client("http://[::1]:9/bc"), None)
        metadata = register(http, web_client("https://169.254.169.254/bc"), None)
    assert other_loopback.json()["error"] == "invalid_client_metadata"
    assert metadata.json()["error"] == "invalid_client_metadata"
