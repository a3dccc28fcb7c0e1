"""Two ``tollhouse serve`` processes on one PostgreSQL database and one Redis behave as
one IdP: whatever one instance issues, consumes or revokes, the other honours at once.

Single use holds across processes because it is one atomic ``UPDATE … WHERE used_at IS
NULL RETURNING`` in the database, never a lock inside one process (RFC 6749 §4.1.2:
"The client MUST NOT use the authorization code more than once").
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest
from redis import Redis

from tests.e2e.backends import REDIS_URL, postgres_database, require_redis
from tests.e2e.cluster import Cluster, client_credentials, introspect, kids, start_cluster
from tests.e2e.conftest import CALLBACK, SENSORS
from tests.e2e.flows import Callback, browse, code_params, exchange, pkce_pair
from tollhouse.resource import TokenError, TokenValidator
from tollhouse.resource.revocation import RedisRevocationList

RACERS = 50
ROTATION_DEADLINE = 10.0
"""The contract: running servers pick up a rotation within 10 s without a restart."""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_redis()
    with postgres_database() as database_url:
        cluster = start_cluster(tmp_path_factory.mktemp("multi"), database_url, REDIS_URL)
        try:
            yield cluster
        finally:
            cluster.stop()


def code_from_a(cluster: Cluster, http: httpx.Client) -> tuple[str, str]:
    """(code, verifier) from a login and consent at instance A."""
    verifier, challenge = pkce_pair()
    result = browse(
        http,
        code_params(cluster.seed, challenge),
        username=cluster.seed.username,
        password=cluster.seed.password,
    )
    assert isinstance(result, Callback), result
    assert result.params["iss"] == cluster.issuer
    return result.code, verifier


def test_instances_starting_together_create_one_key_per_alg(cluster: Cluster) -> None:
    """Both raced to create the first keys on an empty database; one insert per alg won."""
    with cluster.a.client() as a, cluster.b.client() as b:
        published_a, published_b = kids(a), kids(b)
        algs = [key["alg"] for key in a.get("/jwks.json").json()["keys"]]
    assert sorted(published_a) == sorted(published_b)
    assert len(algs) == len(set(algs)), algs


def test_code_issued_by_a_is_redeemed_at_b(cluster: Cluster) -> None:
    with cluster.a.client() as a:
        code, verifier = code_from_a(cluster, a)
    with cluster.b.client() as b:
        response = exchange(b, code, verifier=verifier, redirect_uri=CALLBACK, auth=cluster.auth())
        assert response.status_code == 200, response.text
        claims = introspect(b, cluster, response.json()["access_token"])
    assert claims["active"] is True
    assert claims["iss"] == cluster.issuer and claims["aud"] == SENSORS


def test_one_code_redeemed_50_times_across_both_instances_wins_once(cluster: Cluster) -> None:
    with cluster.a.client() as a:
        code, verifier = code_from_a(cluster, a)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": CALLBACK,
    }

    async def race() -> list[httpx.Response]:
        async with (
            httpx.AsyncClient(base_url=cluster.a.base_url, timeout=30) as at_a,
            httpx.AsyncClient(base_url=cluster.b.base_url, timeout=30) as at_b,
        ):
            start = asyncio.Event()

            async def redeem(client: httpx.AsyncClient) -> httpx.Response:
                await start.wait()
                return await client.post("/token", data=data, auth=cluster.auth())

            tasks = [asyncio.create_task(redeem(at_a if i % 2 else at_b)) for i in range(RACERS)]
            await asyncio.sleep(0.05)
            start.set()
            return list(await asyncio.gather(*tasks))

    responses = asyncio.run(race())
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 1, statuses
    assert statuses.count(400) == RACERS - 1, statuses
    assert {r.json()["error"] for r in responses if r.status_code == 400} == {"invalid_grant"}
    # RFC 6749 §4.1.2: a code used twice revokes what its first use issued, whichever
    # instance sees the reuse. (Checked once the winner has recorded what it issued:
    # racers that lost while it was still minting find nothing to revoke yet.)
    [winner] = [r for r in responses if r.status_code == 200]
    with cluster.a.client() as a, cluster.b.client() as b:
        again = a.post("/token", data=data, auth=cluster.auth())
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        assert introspect(b, cluster, winner.json()["access_token"]) == {"active": False}


def test_revocation_at_a_is_seen_at_b_and_in_redis_at_once(cluster: Cluster) -> None:
    revocations = RedisRevocationList(REDIS_URL, cache_ttl=0)
    validator = TokenValidator(cluster.issuer, SENSORS, revocation=revocations)
    redis = Redis.from_url(REDIS_URL)
    try:
        with cluster.a.client() as a, cluster.b.client() as b:
            response = client_credentials(a, cluster)
            assert response.status_code == 200, response.text
            token = response.json()["access_token"]
            jti = jwt.decode(token, options={"verify_signature": False})["jti"]
            assert introspect(b, cluster, token)["active"] is True
            assert validator.validate(token)["jti"] == jti

            revoked = a.post(
                "/revoke", data={"token": token}, auth=cluster.auth(cluster.seed.machine_id)
            )
            assert revoked.status_code == 200, revoked.text

            # No wait, no retry: the very next request to B and to Redis sees it.
            assert introspect(b, cluster, token) == {"active": False}
            assert redis.exists(f"tollhouse:revoked:{jti}") == 1
            with pytest.raises(TokenError) as refused:
                validator.validate(token)
            assert refused.value.error == "invalid_token"
    finally:
        redis.close()
        validator.close()
        revocations.close()


def test_login_session_created_at_a_is_valid_at_b(cluster: Cluster) -> None:
    with cluster.a.client() as a:
        code_from_a(cluster, a)  # signs in (and consents) at A
        # One browser: the cookie jar is shared, cookies are per host, not per port.
        with cluster.b.client(cookies=a.cookies) as b:
            verifier, challenge = pkce_pair()
            result = browse(b, code_params(cluster.seed, challenge))  # no credentials
            assert isinstance(result, Callback), "B asked to sign in again"
            response = exchange(
                b, result.code, verifier=verifier, redirect_uri=CALLBACK, auth=cluster.auth()
            )
    assert response.status_code == 200, response.text


def test_key_rotation_by_the_cli_reaches_both_instances_within_10_seconds(
    cluster: Cluster,
) -> None:
    """Published everywhere first, signing everywhere after the lead time."""
    lead_time = 6
    with cluster.a.client() as a, cluster.b.client() as b:
        old_kid = jwt.get_unverified_header(client_credentials(a, cluster).json()["access_token"])[
            "kid"
        ]
        rotated = cluster.cli("keys", "rotate", "--lead-time", str(lead_time), "--json")
        assert rotated.returncode == 0, rotated.stderr
        started = time.monotonic()
        new_kid = json.loads(rotated.stdout)["kid"]

        deadline = started + ROTATION_DEADLINE
        while not (new_kid in kids(a) and new_kid in kids(b)):
            assert time.monotonic() < deadline, "the new key was not published within 10 s"
            time.sleep(0.2)
        published_after = time.monotonic() - started
        assert published_after < lead_time - 1, published_after
        for http in (a, b):  # published, not signing yet
            token = client_credentials(http, cluster).json()["access_token"]
            assert jwt.get_unverified_header(token)["kid"] == old_kid

        deadline = started + lead_time + ROTATION_DEADLINE
        signing: dict[str, str] = {}
        while set(signing.values()) != {new_kid} or len(signing) < 2:
            assert time.monotonic() < deadline, f"not signing with the new key: {signing}"
            time.sleep(0.2)
            for name, http in (("a", a), ("b", b)):
                response = client_credentials(http, cluster)
                signing[name] = jwt.get_unverified_header(response.json()["access_token"])["kid"]
        # The old key is retired, still published: the tokens it signed still verify.
        assert old_kid in kids(a) and old_kid in kids(b)
