"""oauth4webapi (npm, run with the machine's Node.js) as the relying party, with its
strict defaults, against Tollhouse over HTTPS (no ``allowInsecureRequests``).

The package is installed into ``tests/interop/node/node_modules`` on first run
(``npm install --no-audit --no-fund --no-package-lock``; the version is pinned exactly
in ``package.json``). Without Node.js/npm the test skips, unless ``CI=true``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.interop.conftest import CALLBACKS, CLIENT_KEY, SECRET, USERNAME, HttpsIdp, serve_https

NODE_DIR = Path(__file__).parent / "node"


class RelyingPartyRefused(AssertionError):
    """rp.mjs stopped: the library refused something (its message is the text)."""


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required when CI=true)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    npm = shutil.which("npm")
    if found is None or npm is None:
        _missing("Node.js and npm are needed for the oauth4webapi interop test")
    version = subprocess.run([found, "--version"], capture_output=True, text=True, check=True)
    if int(version.stdout.strip().lstrip("v").split(".")[0]) < 20:
        _missing(f"Node.js 20 or newer is needed, found {version.stdout.strip()}")
    # Under pytest-xdist the interop modules may run at once: one npm install at a time.
    with (NODE_DIR / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (NODE_DIR / "node_modules" / "oauth4webapi").is_dir():
            installed = subprocess.run(
                [str(npm), "install", "--no-audit", "--no-fund", "--no-package-lock"],
                cwd=NODE_DIR, capture_output=True, text=True, timeout=180,
            )  # fmt: skip
            if installed.returncode != 0:
                _missing(f"npm install failed: {installed.stderr.strip()[-500:]}")
    return str(found)


def run_relying_party(
    node: str,
    idp: HttpsIdp,
    client_id: str,
    alg: str | None = None,
    *,
    secret: str | None = None,
    extra_env: dict[str, str] | None = None,
    script: str = "rp.mjs",
) -> dict[str, Any]:
    env = {
        **os.environ,
        "ISSUER": idp.issuer,
        "CLIENT_ID": client_id,
        "REDIRECT_URI": f"{CALLBACKS}/{client_id}/cb",
        "NODE_EXTRA_CA_CERTS": str(idp.ca_file),
    }
    if alg:
        env["ID_TOKEN_ALG"] = alg
    if secret:
        env["CLIENT_SECRET"] = secret
    env.update(extra_env or {})
    process = subprocess.Popen(
        [node, "--dns-result-order=ipv4first", script],
        cwd=NODE_DIR, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None and process.stdin is not None
        first = process.stdout.readline()
        if not first:
            raise AssertionError(f"rp.mjs failed: {process.communicate(timeout=10)[1]}")
        started = json.loads(first)
        callback = idp.sign_in(started["authorization_url"])
        process.stdin.write(json.dumps({"callback_url": callback.url}) + "\n")
        process.stdin.flush()
        out, err = process.communicate(timeout=30)
        if process.returncode != 0:
            raise RelyingPartyRefused(err)
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        result["nonce"] = started.get("nonce")
        return result
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def test_oauth4webapi_public_client_signs_in_with_strict_defaults(
    node: str, https_idp: HttpsIdp
) -> None:
    result = run_relying_party(node, https_idp, "rp-node")
    claims = result["claims"]
    assert claims["iss"] == https_idp.issuer and claims["aud"] == "rp-node"
    assert claims["nonce"] == result["nonce"] and claims["sub"] == "erin-id"
    assert result["userinfo"]["sub"] == claims["sub"]
    assert result["userinfo"]["preferred_username"] == USERNAME
    assert set(result["scope"].split()) == {"openid", "profile", "email"}
    assert result["token_type"].lower() == "bearer"


def test_oauth4webapi_checks_the_id_token_alg_the_client_registered(
    node: str, https_idp: HttpsIdp
) -> None:
    """rp-es256 registered ``id_token_signed_response_alg: ES256``: the RP configured
    with that alg accepts the ID Token, one configured for RS256 refuses it (so the alg
    really is the registered one). Without configuration oauth4webapi accepts any alg
    in ``id_token_signing_alg_values_supported``."""
    result = run_relying_party(node, https_idp, "rp-es256", "ES256", secret=SECRET)
    assert result["claims"]["aud"] == "rp-es256"
    with pytest.raises(RelyingPartyRefused, match='unexpected JWT "alg"'):
        run_relying_party(node, https_idp, "rp-es256", "RS256", secret=SECRET)


def test_oauth4webapi_pushes_and_authenticates_with_private_key_jwt(
    node: str, https_idp: HttpsIdp
) -> None:
    """rp-pkjwt must push its requests (PAR) and has no secret: oauth4webapi signs its
    assertions (aud = the issuer) with the key whose public half was registered."""
    env = {"PRIVATE_JWK": json.dumps(CLIENT_KEY.as_dict(private=True)), "USE_PAR": "1"}
    result = run_relying_party(node, https_idp, "rp-pkjwt", extra_env=env)
    assert result["claims"]["aud"] == "rp-pkjwt"
    assert result["userinfo"]["sub"] == result["claims"]["sub"]


def test_oauth4webapi_dpop_code_flow_with_nonce_refresh_and_userinfo(
    node: str, https_idp: HttpsIdp
) -> None:
    """RFC 9449 with oauth4webapi's own DPoP: the public client meets the nonce challenge
    (``TOLLHOUSE_DPOP_NONCE`` defaults to ``public``), gets tokens bound to its key,
    refreshes with it and calls userinfo with the DPoP scheme."""
    result = run_relying_party(node, https_idp, "rp-dpop", script="dpop.mjs")
    assert result["nonce_challenged"] is True
    assert result["token_type"].lower() == "dpop"
    assert result["refreshed_token_type"].lower() == "dpop"
    assert result["userinfo"]["sub"] == "erin-id"
    first = jwt.decode(result["access_token"], options={"verify_signature": False})
    second = jwt.decode(result["refreshed_access_token"], options={"verify_signature": False})
    assert first["cnf"]["jkt"] == second["cnf"]["jkt"]


def test_oauth4webapi_completes_a_fapi2_code_flow(
    node: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """FAPI 2.0 mode (TOLLHOUSE_PROFILE=fapi2), oauth4webapi unmodified: PAR,
    private_key_jwt with the issuer as audience, PKCE S256 and DPoP-bound tokens."""
    with serve_https(tmp_path_factory.mktemp("fapi2-idp"), {"TOLLHOUSE_PROFILE": "fapi2"}) as idp:
        env = {
            "PRIVATE_JWK": json.dumps(CLIENT_KEY.as_dict(private=True)),
            "USE_PAR": "1",
            "USE_DPOP": "1",
        }
        result = run_relying_party(node, idp, "rp-pkjwt", extra_env=env)
    assert result["token_type"].lower() == "dpop"
    access = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert set(access["cnf"]) == {"jkt"}
    assert result["userinfo"]["sub"] == result["claims"]["sub"]
