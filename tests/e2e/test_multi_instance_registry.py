"""Two ``tollhouse serve`` processes over one PostgreSQL database: a client deleted,
a secret rotated or an API created through one instance (RFC 7592, the CLI) is seen by
the other within one second, though each keeps clients and APIs in memory (ADR 0011).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.backends import REDIS_URL, postgres_database, require_redis
from tests.e2e.cluster import Cluster, start_cluster
from tests.e2e.test_registry_changes import DEADLINE, seconds_until, token


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_redis()
    with postgres_database() as database_url:
        cluster = start_cluster(tmp_path_factory.mktemp("registry"), database_url, REDIS_URL)
        try:
            yield cluster
        finally:
            cluster.stop()


def admin(cluster: Cluster, *args: str) -> str:
    done = cluster.cli(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def register(cluster: Cluster, http: httpx.Client) -> dict[str, str]:
    """A client_credentials client registered over RFC 7591 at ``http``'s instance."""
    initial = json.loads(admin(cluster, "registration-token", "create", "--json"))["token"]
    response = http.post(
        "/register",
        json={
            "client_name": "Registered meter",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic",
        },
        headers={"Authorization": f"Bearer {initial}"},
    )
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


def test_a_client_deleted_over_rfc_7592_at_a_is_refused_at_b_within_a_second(
    cluster: Cluster,
) -> None:
    with cluster.a.client() as a, cluster.b.client() as b:
        registered = register(cluster, a)
        auth = (registered["client_id"], registered["client_secret"])
        assert token(a, auth).status_code == 200
        assert token(b, auth).status_code == 200  # both have it in memory now
        deleted = a.delete(
            registered["registration_client_uri"],
            headers={"Authorization": f"Bearer {registered['registration_access_token']}"},
        )
        assert deleted.status_code == 204, deleted.text
        took = seconds_until(lambda: token(b, auth).status_code == 401)
        assert token(a, auth).status_code == 401
    assert took < DEADLINE


def test_a_secret_rotated_by_the_cli_is_refused_by_both_within_a_second(
    cluster: Cluster,
) -> None:
    args = ("--name", "Rotated meter", "--grant-type", "client_credentials", "--json")
    created = json.loads(admin(cluster, "clients", "create", *args))
    old = (created["client_id"], created["client_secret"])
    with cluster.a.client() as a, cluster.b.client() as b:
        assert token(a, old).status_code == 200
        assert token(b, old).status_code == 200
        admin(cluster, "clients", "rotate-secret", old[0])
        took = seconds_until(
            lambda: token(a, old).status_code == 401 and token(b, old).status_code == 401
        )
    assert took < DEADLINE


def test_an_api_created_by_the_cli_is_accepted_by_both_within_a_second(
    cluster: Cluster,
) -> None:
    args = ("--name", "Meter of a new API", "--grant-type", "client_credentials", "--json")
    created = json.loads(admin(cluster, "clients", "create", *args))
    auth = (created["client_id"], created["client_secret"])
    scope = f"read_meters_{os.urandom(3).hex()}"
    with cluster.a.client() as a, cluster.b.client() as b:
        assert token(a, auth, scope).json()["error"] == "invalid_scope"
        assert token(b, auth, scope).json()["error"] == "invalid_scope"
        api = f"https://meters-{scope[-6:]}.example.test"
        admin(cluster, "apis", "create", "--identifier", api, "--scope", scope)
        took = seconds_until(
            lambda: (
                token(a, auth, scope).status_code == 200
                and token(b, auth, scope).status_code == 200
            )
        )
    assert took < DEADLINE
