"""The device flow on two instances sharing PostgreSQL and Redis (RFC 8628): a person
approves on one, the device polls the other, and of many polls racing after the
approval exactly one gets tokens — the authorization code's single-use ``UPDATE``
decides, not anything inside one process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.backends import REDIS_URL, postgres_database, require_redis
from tests.e2e.cluster import Cluster, start_cluster
from tests.e2e.device import add_device_clients, answer, enter_code, poll, start

RACERS = 20


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_redis()
    with postgres_database() as database_url:
        env = {"TOLLHOUSE_RATE_LIMIT_TOKEN_CLIENT": "off"}
        cluster = start_cluster(tmp_path_factory.mktemp("device"), database_url, REDIS_URL, env=env)
        try:
            add_device_clients(database_url)
            time.sleep(1.2)  # every server sees a new client within a second
            yield cluster
        finally:
            cluster.stop()


def approve_at_a(cluster: Cluster, user_code: str) -> None:
    with cluster.a.client() as browser:
        done = answer(
            browser,
            enter_code(browser, user_code),
            username=cluster.seed.username,
            password=cluster.seed.password,
        )
    assert "result=approved" in str(done.url), done.text


def test_approved_at_a_polled_at_b(cluster: Cluster) -> None:
    with cluster.b.client() as device:
        body = start(device).json()
        assert poll(device, body["device_code"]).json()["error"] == "authorization_pending"
        approve_at_a(cluster, body["user_code"])
        tokens = poll(device, body["device_code"])
    assert tokens.status_code == 200, tokens.text
    assert {"access_token", "refresh_token", "id_token"} <= tokens.json().keys()


def test_twenty_concurrent_polls_after_approval_get_one_token_response(
    cluster: Cluster,
) -> None:
    with cluster.a.client() as device:
        body = start(device).json()
    approve_at_a(cluster, body["user_code"])
    instances = [cluster.a, cluster.b]

    def race(index: int) -> int:
        with instances[index % 2].client() as device:
            return poll(device, body["device_code"]).status_code

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        statuses = list(pool.map(race, range(RACERS)))
    assert statuses.count(200) == 1, statuses
    assert statuses.count(400) == RACERS - 1, statuses


def test_denied_at_a_is_seen_at_b(cluster: Cluster) -> None:
    with cluster.b.client() as device:
        body = start(device).json()
    with cluster.a.client() as browser:
        answer(
            browser,
            enter_code(browser, body["user_code"]),
            username=cluster.seed.username,
            password=cluster.seed.password,
            decision="deny",
        )
    with cluster.b.client() as device:
        assert poll(device, body["device_code"]).json()["error"] == "access_denied"
