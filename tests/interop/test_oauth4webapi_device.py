"""oauth4webapi's device flow functions (RFC 8628) as the device, unmodified and with
its strict defaults, against Tollhouse over HTTPS; the person's part (the /device,
login and consent pages) driven by httpx."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from tests.e2e.device import answer, enter_code
from tests.interop.conftest import PASSWORD, USERNAME, HttpsIdp
from tests.interop.test_oauth4webapi import NODE_DIR, node  # noqa: F401 (fixture)


def run_device(node_bin: str, idp: HttpsIdp) -> tuple[dict[str, Any], dict[str, Any]]:
    env = {
        **os.environ,
        "ISSUER": idp.issuer,
        "CLIENT_ID": "rp-device",
        "NODE_EXTRA_CA_CERTS": str(idp.ca_file),
    }
    with subprocess.Popen(
        [node_bin, "--dns-result-order=ipv4first", "device.mjs"],
        cwd=NODE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            if not first:
                raise AssertionError(f"device.mjs failed: {process.communicate(timeout=10)[1]}")
            started = json.loads(first)
            with idp.client() as browser:
                done = answer(
                    browser,
                    enter_code(browser, started["user_code"]),
                    username=USERNAME,
                    password=PASSWORD,
                )
                assert "result=approved" in str(done.url), done.text
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
            return started, json.loads(out.strip().splitlines()[-1])
        finally:
            if process.poll() is None:
                process.kill()


def test_oauth4webapi_device_flow_completes_unmodified(
    node: str,  # noqa: F811
    https_idp: HttpsIdp,
) -> None:
    started, result = run_device(node, https_idp)
    assert started["verification_uri"] == https_idp.issuer + "/device"
    assert started["verification_uri_complete"].endswith(started["user_code"])
    claims = result["claims"]
    assert claims["iss"] == https_idp.issuer and claims["aud"] == "rp-device"
    assert claims["sub"] == "erin-id"
    assert set(result["scope"].split()) == {"openid", "profile"}
    assert result["token_type"].lower() == "bearer"
