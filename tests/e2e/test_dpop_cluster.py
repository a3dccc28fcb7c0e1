"""DPoP across two instances on one PostgreSQL and one Redis: a proof accepted by one is
a replay at the other (the replay cache is Redis), and a nonce issued by one is accepted
by the other (both derive the nonce key from the shared master key)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.backends import REDIS_URL, postgres_database, require_redis
from tests.e2e.cluster import Cluster, start_cluster
from tests.e2e.dpop_proofs import ProofKey


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_redis()
    with postgres_database() as database_url:
        cluster = start_cluster(
            tmp_path_factory.mktemp("dpop-multi"),
            database_url,
            REDIS_URL,
            env={"TOLLHOUSE_DPOP_NONCE": "all"},
        )
        try:
            yield cluster
        finally:
            cluster.stop()


def machine_token(http: httpx.Client, cluster: Cluster, proof: str) -> httpx.Response:
    return http.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "read_sensors"},
        auth=cluster.auth(cluster.seed.machine_id),
        headers={"DPoP": proof},
    )


def test_nonce_from_one_instance_and_replay_at_the_other(cluster: Cluster) -> None:
    key, url = ProofKey(), cluster.issuer + "/token"
    with cluster.a.client() as a, cluster.b.client() as b:
        challenge = machine_token(a, cluster, key.proof("POST", url))
        assert challenge.status_code == 400, challenge.text
        assert challenge.json()["error"] == "use_dpop_nonce"
        nonce = challenge.headers["DPoP-Nonce"]

        proof = key.proof("POST", url, nonce=nonce)
        accepted = machine_token(b, cluster, proof)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["token_type"] == "DPoP"

        replayed = machine_token(a, cluster, proof)
        assert replayed.status_code == 400, replayed.text
        assert replayed.json()["error"] == "invalid_dpop_proof"
        assert "already used" in replayed.json()["error_description"]
