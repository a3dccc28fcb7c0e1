"""A token from a running server verified with ``openssl``, as the seed's resource
server does (``openssl dgst -sha256 -verify public.pem -signature …``), with the files
Tollhouse provides: ``keys export --pem`` and ``token signature`` (docs/tokens.md)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    TOLLHOUSE,
    Seed,
    Server,
    free_port,
    seed_database,
    start_server,
    stop,
)
from tests.e2e.flows import Callback, browse, exchange, pkce_pair

NATIVE_CB = "http://127.0.0.1:7000/cb"
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("openssl-idp")
    database_url = f"sqlite:///{data_dir / 'tollhouse.db'}"
    seed = Seed()
    asyncio.run(seed_database(database_url, seed))
    port = free_port()
    process, log_path = start_server(data_dir, port)
    try:
        yield Server(f"http://127.0.0.1:{port}", data_dir, database_url, seed, process, log_path)
    finally:
        stop(process)


def shell(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the documented steps as an operator types them (POSIX sh)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOLLHOUSE_")}
    path = f"{TOLLHOUSE.parent}{os.pathsep}{base.get('PATH', '')}"
    return subprocess.run(
        ["sh", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, "PATH": path, **env},
        check=False,
    )


def verify(
    idp: Server, workdir: Path, token: str, *export: str
) -> subprocess.CompletedProcess[str]:
    workdir.mkdir()
    return shell(
        f"""
        set -e
        tollhouse keys export {" ".join(export)} --pem --data-dir "$DATA_DIR" > public.pem
        printf %s "${{TOKEN%.*}}" > signing-input.txt
        tollhouse token signature "$TOKEN" > sig.der
        openssl dgst -sha256 -verify public.pem -signature sig.der signing-input.txt
        """,
        workdir,
        TOKEN=token,
        DATA_DIR=str(idp.data_dir),
    )


def test_an_es256_access_token_verifies_with_openssl(idp: Server, tmp_path: Path) -> None:
    with idp.client() as http:
        issued = http.post(
            "/token",
            data={"grant_type": "client_credentials", "scope": "read_sensors"},
            auth=(idp.seed.machine_id, idp.seed.confidential_secret),
        )
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]

    verified = verify(idp, tmp_path / "good", token)
    header, payload, signature = token.split(".")
    forged = verify(idp, tmp_path / "forged", f"{header}.{payload[:-4]}AAAA.{signature}")

    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.strip() == "Verified OK"
    assert forged.returncode != 0 and "Verification failure" in forged.stdout + forged.stderr


def test_an_rs256_id_token_verifies_with_the_key_named_by_its_kid(
    idp: Server, tmp_path: Path
) -> None:
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": idp.seed.public_id,
        "redirect_uri": NATIVE_CB,
        "scope": "openid",
        "state": "s1",
        "nonce": "n1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with idp.client() as http:
        result = browse(http, params, username=idp.seed.username, password=idp.seed.password)
        assert isinstance(result, Callback), getattr(result, "text", result)
        tokens = exchange(
            http,
            result.code,
            verifier=verifier,
            redirect_uri=NATIVE_CB,
            client_id=params["client_id"],
        )
    assert tokens.status_code == 200, tokens.text
    id_token = tokens.json()["id_token"]
    segment = id_token.split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))

    by_kid = verify(idp, tmp_path / "kid", id_token, header["kid"])
    by_alg = verify(idp, tmp_path / "alg", id_token, "--alg", "RS256")

    assert header["alg"] == "RS256"
    for result in (by_kid, by_alg):
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "Verified OK"
