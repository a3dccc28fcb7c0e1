"""``tollhouse clients rotate-secret``: a new secret, shown once; with ``--overlap`` the
previous one stays valid a while."""

from __future__ import annotations

import time

from tollhouse.models import Client
from tollhouse.storage.ports import Storage

from ..cli_runner import Cli
from .stored import secret_hasher, seed, stored_hash


def stored(cli: Cli, client_id: str) -> Client:
    async def work(storage: Storage) -> Client | None:
        return await storage.get_client(client_id)

    client = cli.query(work)
    assert client is not None
    return client


def test_rotated_secret_replaces_the_old_one(cli: Cli) -> None:
    client_id, first = "web", "the-first-secret"
    seed(cli, client_id, secret=first)

    human = cli("clients", "rotate-secret", client_id).assert_ok()
    rotated = cli("clients", "rotate-secret", client_id, "--json").assert_ok().json()

    assert "shown only once" in human.stdout
    second = human.stdout.split("client_secret: ", 1)[1].split()[0]
    assert rotated["client_id"] == client_id
    third = rotated["client_secret"]
    assert len({first, second, third}) == 3
    secret_hash = stored_hash(cli, client_id)
    assert secret_hash is not None
    hasher = secret_hasher(cli)
    assert hasher.verify(secret_hash, third)
    assert not hasher.verify(secret_hash, first)
    assert not hasher.verify(secret_hash, second)


def test_overlap_keeps_the_previous_secret_until_it_expires(cli: Cli) -> None:
    seed(cli, "web", secret="the-first-secret")
    old_hash = stored(cli, "web").secret_hash

    rotated = cli("clients", "rotate-secret", "web", "--overlap", "3600", "--json").assert_ok()

    body = rotated.json()
    client = stored(cli, "web")
    assert client.previous_secret_hash == old_hash
    assert client.previous_secret_expires_at == body["previous_secret_expires_at"]
    assert 0 < body["previous_secret_expires_at"] - int(time.time()) <= 3600
    assert client.secret_hash is not None
    assert secret_hasher(cli).verify(client.secret_hash, body["client_secret"])

    # Rotating again without --overlap forgets the previous secret at once.
    human = cli("clients", "rotate-secret", "web").assert_ok()
    assert "previous secret valid until" not in human.stdout
    client = stored(cli, "web")
    assert client.previous_secret_hash is None and client.previous_secret_expires_at is None


def test_overlap_is_bounded(cli: Cli) -> None:
    seed(cli, "web", secret="the-first-secret")
    cli("clients", "rotate-secret", "web", "--overlap", "-1").assert_usage_error("--overlap")
    cli("clients", "rotate-secret", "web", "--overlap", str(31 * 86400)).assert_usage_error(
        "--overlap"
    )
