"""The peer IdP: panva's node-oidc-provider, installed with npm into a temporary folder.

``npm install oidc-provider@PEER_VERSION`` runs in a folder this script creates (and
removes); nothing of it is committed. ``server.mjs`` beside this file configures it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from idp.ours import API, SCOPE, basic, free_port, stop_group, wait_ready

PEER_VERSION = "9.13.3"
SERVER = Path(__file__).resolve().parent / "peer" / "server.mjs"


class PeerUnavailable(RuntimeError):
    """node/npm missing or the npm registry unreachable."""


def install(timeout: float = 240.0) -> Path:
    """A temporary folder with oidc-provider installed; raises PeerUnavailable."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise PeerUnavailable("node and npm are not installed (apt-get install nodejs npm)")
    folder = Path(tempfile.mkdtemp(prefix="tollhouse-bench-peer-"))
    (folder / "package.json").write_text('{"name": "bench-peer", "private": true}\n')
    shutil.copy(SERVER, folder / "server.mjs")
    try:
        done = subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--no-save",
                "--loglevel=error",
                f"oidc-provider@{PEER_VERSION}",
            ],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        shutil.rmtree(folder, ignore_errors=True)
        raise PeerUnavailable(f"npm install timed out after {timeout:.0f} s") from None
    if done.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise PeerUnavailable(f"npm install failed: {done.stderr.strip()[-300:]}")
    return folder


@dataclass
class Peer:
    folder: Path
    cpus: str | None
    port: int = field(default_factory=free_port)
    client_id: str = "bench-cc"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> str:
        return basic(self.client_id, self.client_secret)

    def start(self) -> None:
        env = dict(
            os.environ,
            NODE_ENV="production",
            PEER_PORT=str(self.port),
            PEER_CLIENT_ID=self.client_id,
            PEER_CLIENT_SECRET=self.client_secret,
            PEER_RESOURCE=API,
            PEER_SCOPE=SCOPE,
        )
        command = ["node", "server.mjs"]
        if self.cpus is not None and shutil.which("taskset"):
            command = ["taskset", "-c", self.cpus, *command]
        self.process = subprocess.Popen(
            command,
            cwd=self.folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_ready(f"{self.base}/jwks", self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)
            self.process = None

    def rss_mib(self) -> list[float]:
        if self.process is None:
            return []
        status = Path(f"/proc/{self.process.pid}/status")
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return [round(int(line.split()[1]) / 1024, 1)]
        return []
