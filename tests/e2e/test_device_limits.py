"""Guessing user codes at /device, and flooding the device endpoints, through a real
server whose device limits are on (RFC 8628 §5.1)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Seed, Server, free_port, seed_database, start_server, stop
from tests.e2e.device import add_device_clients, enter_code, poll, start
from tests.e2e.forms import parse


def _server(tmp_path_factory: pytest.TempPathFactory, rate: str) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("device-limits")
    url = f"sqlite:///{data_dir / 'tollhouse.db'}"
    seed = Seed()
    asyncio.run(seed_database(url, seed))
    add_device_clients(url)
    port = free_port()
    env = {"TOLLHOUSE_RATE_LIMIT_DEVICE": rate}
    process, log_path = start_server(data_dir, port, env=env)
    try:
        yield Server(f"http://127.0.0.1:{port}", data_dir, url, seed, process, log_path)
    finally:
        stop(process)


@pytest.fixture
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The wrong-code lockout on, the per-IP request limit off."""
    yield from _server(tmp_path_factory, "off")


@pytest.fixture
def flooded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _server(tmp_path_factory, "3/min")


def test_five_wrong_codes_lock_out_every_code_alike(guarded: Server) -> None:
    with guarded.client() as device:
        body = start(device).json()
    with guarded.client() as browser:
        for _ in range(5):
            wrong = enter_code(browser, "BBBB-BBBB")
            assert wrong.status_code == 400 and "not valid" in wrong.text
        locked_wrong = enter_code(browser, "CCCC-CCCC")
        locked_right = enter_code(browser, body["user_code"])
    # The same answer whether the code exists or not: the lockout reveals nothing.
    assert locked_wrong.status_code == locked_right.status_code == 429
    assert locked_right.headers["retry-after"] == locked_wrong.headers["retry-after"]
    assert "Too many attempts" in locked_right.text
    assert parse(locked_right.text).forms[0].inputs.keys() == {"csrf_token", "user_code"}
    # Another browser from the same address is locked out too (per address).
    with guarded.client() as other:
        assert enter_code(other, body["user_code"]).status_code == 429
    # Nothing was approved or spent: the device still waits.
    with guarded.client() as device:
        assert poll(device, body["device_code"]).json()["error"] == "authorization_pending"
    assert guarded.logs().count('"outcome":"wrong_user_code"') >= 5


def test_wrong_codes_are_audit_events(guarded: Server) -> None:
    with guarded.client() as browser:
        enter_code(browser, "DDDD-DDDD")
    time.sleep(0.2)
    assert '"event":"device"' in guarded.logs()


def test_the_device_limit_covers_requests_and_the_page(flooded: Server) -> None:
    with flooded.client() as http:
        answers = [start(http).status_code for _ in range(4)]
        page = [http.get("/device").status_code for _ in range(4)]
        refused = start(http)
    assert answers[:3] == [200, 200, 200] and answers[3] == 429
    assert refused.json()["error"] == "slow_down" and "retry-after" in refused.headers
    assert page[:3] == [200, 200, 200] and page[3] == 429
