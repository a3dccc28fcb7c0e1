"""oauth4webapi (Node 20) as a DPoP machine client: client_credentials with a DPoP
proof against a real Tollhouse, then a protected-resource call with the DPoP scheme
that passes ``tollhouse.resource`` (a small ASGI API on 127.0.0.1); the same token sent
as a bearer token is refused there (RFC 9449 §7.1)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import free_port, stop
from tests.interop.conftest import INTEROP_API, SECRET, HttpsIdp
from tests.interop.test_oauth4webapi import NODE_DIR, node  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def resource(https_idp: HttpsIdp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("dpop-resource") / "resource.log"
    env = {
        **os.environ,
        "ISSUER": https_idp.issuer,
        "AUDIENCE": INTEROP_API,
        "CA_FILE": str(https_idp.ca_file),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.interop.dpop_resource", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        for _ in range(200):
            assert process.poll() is None, log_path.read_text()
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/readings"
    finally:
        stop(process)


def test_oauth4webapi_dpop_client_credentials_and_resource_call(
    node: str,  # noqa: F811
    https_idp: HttpsIdp,
    resource: str,
) -> None:
    env = {
        **os.environ,
        "ISSUER": https_idp.issuer,
        "CLIENT_ID": "rp-machine",
        "CLIENT_SECRET": SECRET,
        "SCOPE": "read_readings",
        "RESOURCE_URL": resource,
        "NODE_EXTRA_CA_CERTS": str(https_idp.ca_file),
    }
    done = subprocess.run(
        [node, "--dns-result-order=ipv4first", "dpop_machine.mjs"],
        cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["token_type"].lower() == "dpop"
    assert result["status"] == 200
    assert result["body"]["client_id"] == "rp-machine"
    assert set(result["body"]["cnf"]) == {"jkt"}
    assert result["bearer_status"] == 401
    assert "DPoP" in result["bearer_challenge"]
