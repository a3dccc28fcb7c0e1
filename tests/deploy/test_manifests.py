"""The shipped deployment files stay consistent with the code they start."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tollhouse.cli.serve import serve
from tollhouse.config import load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
UNIT = DEPLOY / "systemd" / "tollhouse.service"


def manifests() -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(K8S.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        found[f"{doc['kind']}/{doc.get('metadata', {}).get('name', path.stem)}"] = doc
    return found


def serve_flags() -> set[str]:
    return {opt for param in serve.params for opt in getattr(param, "opts", ())}


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    shipped = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == shipped


def test_deployment_probes_readyz_for_readiness_and_healthz_for_liveness() -> None:
    deployment = manifests()["Deployment/tollhouse"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"


def test_master_key_comes_from_a_secret_never_from_the_deployment() -> None:
    found = manifests()
    secret = found["Secret/tollhouse-secrets"]
    assert "TOLLHOUSE_MASTER_KEY" in secret["stringData"]
    [container] = found["Deployment/tollhouse"]["spec"]["template"]["spec"]["containers"]
    assert {"secretRef": {"name": "tollhouse-secrets"}} in container["envFrom"]
    assert all(env["name"] != "TOLLHOUSE_MASTER_KEY" for env in container["env"])


def test_deployment_arguments_and_environment_are_accepted_by_serve() -> None:
    [container] = manifests()["Deployment/tollhouse"]["spec"]["template"]["spec"]["containers"]
    assert container["args"][0] == "serve"
    flags = {arg.split("=", 1)[0] for arg in container["args"][1:]}
    assert flags <= serve_flags()
    overrides = {
        env["name"].removeprefix("TOLLHOUSE_").lower(): env["value"] for env in container["env"]
    }
    overrides.update(
        {
            arg[2:].split("=", 1)[0].replace("-", "_"): arg.split("=", 1)[1]
            for arg in container["args"][1:]
        }
    )
    overrides["database"] = "postgresql://tollhouse@postgres/tollhouse"
    settings = load_settings(**overrides)
    assert settings.issuer_url == "https://idp.example.com"
    assert settings.trusted_proxies == "10.0.0.0/8"


PROCESS_MIB = 110
"""A worker process under load without password checks (docs/deployment.md, Sizing)."""
USER_HASH_MIB = 64
"""One argon2id check at RFC 9106's second recommended option."""


def test_password_checks_fit_the_memory_limit() -> None:
    """workers x process + concurrency x 64 MiB stays under the pod's memory limit: the
    workers share the server's password-check slots (security/shared_slots.py)."""
    [container] = manifests()["Deployment/tollhouse"]["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item["value"] for item in container["env"]}
    workers = int(env["TOLLHOUSE_WORKERS"])
    concurrency = int(env["TOLLHOUSE_PASSWORD_HASH_CONCURRENCY"])
    limit = container["resources"]["limits"]["memory"]
    assert limit.endswith("Gi") or limit.endswith("Mi")
    limit_mib = int(limit[:-2]) * (1024 if limit.endswith("Gi") else 1)
    budget = workers * PROCESS_MIB + concurrency * USER_HASH_MIB
    assert budget <= limit_mib // 2, (budget, limit_mib)  # room for caches and bursts


def test_prometheus_scrapes_the_metrics_listener_the_service_does_not_expose() -> None:
    found = manifests()
    template = found["Deployment/tollhouse"]["spec"]["template"]
    [container] = template["spec"]["containers"]
    annotations = template["metadata"]["annotations"]
    assert f"--metrics-port={annotations['prometheus.io/port']}" in container["args"]
    assert annotations["prometheus.io/scheme"] == "http"
    exposed = {p["targetPort"] for p in found["Service/tollhouse"]["spec"]["ports"]}
    assert "metrics" not in exposed and int(annotations["prometheus.io/port"]) not in exposed


def test_service_targets_the_container_port() -> None:
    found = manifests()
    [container] = found["Deployment/tollhouse"]["spec"]["template"]["spec"]["containers"]
    [port] = found["Service/tollhouse"]["spec"]["ports"]
    assert port["targetPort"] in {p["name"] for p in container["ports"]}


def test_systemd_unit_starts_serve_with_existing_flags() -> None:
    text = UNIT.read_text()
    exec_start = re.search(r"^ExecStart=(.*?)(?<!\\)$", text, re.M | re.S)
    assert exec_start is not None
    command = exec_start.group(1).replace("\\\n", " ").split()
    assert command[1] == "serve"
    assert {word for word in command if word.startswith("--")} <= serve_flags()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze absent")
def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = tmp_path / "tollhouse.service"
    tollhouse = Path(sys.executable).parent / "tollhouse"
    unit.write_text(UNIT.read_text().replace("/opt/tollhouse/.venv/bin/tollhouse", str(tollhouse)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "tollhouse.service" in line and "Documentation" not in line
    ]
    assert not problems, problems
