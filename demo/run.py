"""``make demo``: start the IdP, the sensors API, Grid-Monitor, the field technician's
single-page app and the sensor hub (a device); print the URLs to open.

1. ``tollhouse serve --seed-demo --insecure-http`` on ``DEMO_DATA_DIR`` (default
   ``.tollhouse-demo/``): plain HTTP, allowed on loopback only, so the browser needs no
   certificate exception. The seed writes the demo credentials to ``demo.json``.
2. If the ports differ from the seeded ones, the Grid-Monitor client's redirect and
   post-logout URIs are set to match (through the IdP's storage, as admin commands do).
   The field technician's public client is registered (or pointed) at its port too, the
   sensor hub's public device client is registered, and the sensors API gets the
   ``send_readings`` scope the hub asks for.
3. ``python -m demo.sensors`` and ``python -m demo.grid_monitor``, which read their
   credentials from ``demo.json``, ``python -m demo.field_app`` (static files) and
   ``python -m demo.sensor_hub``, whose user code the banner shows.

Ports: ``DEMO_IDP_PORT`` (8080), ``DEMO_CLIENT_PORT`` (9000), ``DEMO_API_PORT`` (9001),
``DEMO_SPA_PORT`` (9002), ``DEMO_HUB_PORT`` (9003).
The access-token lifetime defaults to 60 s here (``TOLLHOUSE_ACCESS_TOKEN_TTL``), so the
refresh is seen within a minute. Output of each process: ``<data-dir>/logs/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from demo.settings import (
    API_IDENTIFIER,
    FIELD_CLIENT_ID,
    FIELD_SCOPES,
    HOST,
    HUB_CLIENT_ID,
    SEND_SCOPE,
    Credentials,
    DemoSettings,
)
from tollhouse.cli.demo import DEMO_CLIENT_ID
from tollhouse.models import Api, AuthMethod, Client, GrantType
from tollhouse.storage.ports import ApiStore, ClientStore
from tollhouse.storage.sql.storage import open_storage

ROOT = Path(__file__).resolve().parent.parent
TOLLHOUSE = Path(sys.executable).parent / "tollhouse"
DEMO_ACCESS_TOKEN_TTL = "60"
START_TIMEOUT = 60.0


class DemoError(RuntimeError):
    """A process did not start; the message ends with the tail of its log."""


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


@dataclass
class Stack:
    settings: DemoSettings
    credentials: Credentials
    processes: list[Process] = field(default_factory=list)

    def stop(self) -> None:
        stop_all(self.processes)

    def exited(self) -> Process | None:
        return next((p for p in self.processes if p.popen.poll() is not None), None)


def stop_all(processes: list[Process]) -> None:
    for process in reversed(processes):
        process.stop()


def check_free(settings: DemoSettings) -> None:
    """Refuse to start next to something already listening: its /healthz would fool us."""
    for variable, port in (
        ("DEMO_IDP_PORT", settings.idp_port),
        ("DEMO_CLIENT_PORT", settings.client_port),
        ("DEMO_API_PORT", settings.api_port),
        ("DEMO_SPA_PORT", settings.field_port),
        ("DEMO_HUB_PORT", settings.hub_port),
    ):
        with socket.socket() as sock:
            # As uvicorn does: connections in TIME_WAIT do not make the port busy.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((HOST, port))
            except OSError:
                raise DemoError(
                    f"port {port} on {HOST} is in use; choose another with {variable}=..."
                ) from None


def child_env(settings: DemoSettings, extra: Mapping[str, str]) -> dict[str, str]:
    env = {**os.environ, **extra}
    env["DEMO_IDP_PORT"] = str(settings.idp_port)
    env["DEMO_CLIENT_PORT"] = str(settings.client_port)
    env["DEMO_API_PORT"] = str(settings.api_port)
    env["DEMO_SPA_PORT"] = str(settings.field_port)
    env["DEMO_HUB_PORT"] = str(settings.hub_port)
    env["DEMO_DATA_DIR"] = str(settings.data_dir)
    env["DEMO_IDP_HOST"] = settings.idp_host
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TOLLHOUSE_ACCESS_TOKEN_TTL", DEMO_ACCESS_TOKEN_TTL)
    return env


def spawn(name: str, argv: list[str], settings: DemoSettings, env: dict[str, str]) -> Process:
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    with log_path.open("wb") as handle:
        popen = subprocess.Popen(  # noqa: S603 (our own commands, no shell)
            argv,
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return Process(name, popen, log_path)


def wait_healthy(process: Process, url: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise DemoError(
                f"{process.name} exited with {process.popen.returncode}:\n{process.log_tail()}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise DemoError(
        f"{process.name} did not answer {url} in {timeout:.0f} s:\n{process.log_tail()}"
    )


async def match_client_urls(settings: DemoSettings, env: Mapping[str, str]) -> None:
    """Point the seeded client's redirect and post-logout URIs at Grid-Monitor's port;
    register the field technician's app at its own."""
    database = env.get("TOLLHOUSE_DATABASE") or f"sqlite:///{settings.data_dir / 'tollhouse.db'}"
    storage = await open_storage(database)
    try:
        client = await storage.get_client(DEMO_CLIENT_ID)
        if client is None:
            raise DemoError(f"the IdP did not seed the {DEMO_CLIENT_ID} client")
        wanted = dataclasses.replace(
            client,
            redirect_uris=(settings.redirect_uri,),
            post_logout_redirect_uris=(settings.post_logout_redirect_uri,),
        )
        if wanted != client:
            await storage.update_client(wanted)
        await register_field_app(storage, settings)
        await register_hub(storage, storage)
    finally:
        await storage.close()


async def register_field_app(storage: ClientStore, settings: DemoSettings) -> None:
    """The field technician's single-page app: a public client with PKCE, whose
    redirect URI's origin is also the origin the IdP answers from the browser (CORS)."""
    wanted = Client(
        FIELD_CLIENT_ID,
        "Field technician",
        (settings.field_redirect_uri,),
        (GrantType.AUTHORIZATION_CODE,),
        AuthMethod.NONE,
        int(time.time()),
        scopes=tuple(FIELD_SCOPES.split()),
        post_logout_redirect_uris=(f"{settings.field_url}/",),
    )
    found = await storage.get_client(FIELD_CLIENT_ID)
    if found is None:
        await storage.add_client(wanted)
    elif found.redirect_uris != wanted.redirect_uris:
        await storage.update_client(dataclasses.replace(wanted, created_at=found.created_at))


async def register_hub(clients: ClientStore, apis: ApiStore) -> None:
    """The sensor hub: a public client with the device grant and refresh tokens, asking
    for ``send_readings``, a scope of the sensors API added here (the seed predates it)."""
    api = await apis.get_api(API_IDENTIFIER)
    if api is not None and SEND_SCOPE not in api.scopes:
        described = {**api.descriptions, SEND_SCOPE: "Send sensor readings to the grid"}
        await apis.delete_api(api.identifier)
        await apis.add_api(
            Api(api.identifier, (*api.scopes, SEND_SCOPE), api.created_at, api.name, described)
        )
    if await clients.get_client(HUB_CLIENT_ID) is None:
        await clients.add_client(
            Client(
                HUB_CLIENT_ID,
                "Sensor hub (substation North)",
                (),
                (GrantType.DEVICE_CODE, GrantType.REFRESH_TOKEN),
                AuthMethod.NONE,
                int(time.time()),
                scopes=(SEND_SCOPE,),
            )
        )


@contextlib.contextmanager
def running(settings: DemoSettings, env: Mapping[str, str] | None = None) -> Iterator[Stack]:
    """The demo's processes, started in order and stopped on exit."""
    settings = dataclasses.replace(settings, data_dir=settings.data_dir.resolve())
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    check_free(settings)
    environment = child_env(settings, env or {})
    processes: list[Process] = []
    try:
        idp = spawn(
            "idp",
            [
                str(TOLLHOUSE),
                "serve",
                "--seed-demo",
                "--insecure-http",
                "--host",
                "127.0.0.1",
                "--port",
                str(settings.idp_port),
                "--data-dir",
                str(settings.data_dir),
                "--issuer",
                settings.issuer,
            ],
            settings,
            environment,
        )
        processes.append(idp)
        wait_healthy(idp, f"{settings.issuer}/healthz")
        asyncio.run(match_client_urls(settings, environment))
        credentials = Credentials.load(settings.data_dir)
        apps = [
            (spawn(name, [sys.executable, "-m", f"demo.{module}"], settings, environment), url)
            for name, module, url in (
                ("sensors", "sensors", f"{settings.api_url}/healthz"),
                ("grid-monitor", "grid_monitor", f"{settings.client_url}/healthz"),
                ("field-app", "field_app", f"{settings.field_url}/healthz"),
                ("sensor-hub", "sensor_hub", f"{settings.hub_url}/healthz"),
            )
        ]
        processes.extend(process for process, _ in apps)
        for process, url in apps:
            wait_healthy(process, url)
        yield Stack(settings, credentials, processes)
    finally:
        stop_all(processes)


def hub_code(settings: DemoSettings, timeout: float = 10.0) -> dict[str, str]:
    """The sensor hub's status once it has a user code to show (empty if not in time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            status: dict[str, str] = httpx.get(f"{settings.hub_url}/status.json").json()
            if status.get("user_code") or status.get("state") == "sending":
                return status
        time.sleep(0.2)
    return {}


def hub_lines(settings: DemoSettings) -> list[str]:
    status = hub_code(settings)
    if status.get("user_code"):
        return [
            f"  Sensor hub         {settings.hub_url}/  (a device, public client "
            f"{HUB_CLIENT_ID}: the device grant)",
            f"    approve it at    {status['verification_uri_complete']}",
            f"    code             {status['user_code']}",
        ]
    return [f"  Sensor hub         {settings.hub_url}/  (a device: its code is shown there)"]


def banner(stack: Stack) -> str:
    s, c = stack.settings, stack.credentials
    return "\n".join(
        [
            "",
            "The Grid-Monitor demo is running.",
            f"  Open {s.client_url}/ and sign in as {c.username} (password: {c.password})",
            "",
            f"  Identity provider  {s.issuer}  (plain HTTP on loopback: --insecure-http)",
            f"  Grid-Monitor       {s.client_url}  (client {c.client_id})",
            f"  Sensors API        {s.api_url}/readings  (GET needs read_sensors, "
            "POST send_readings)",
            f"  Field technician   {s.field_url}/  (a single-page app, public client "
            f"{FIELD_CLIENT_ID}: PKCE and CORS)",
            *hub_lines(s),
            f"  Logs               {s.data_dir / 'logs'}/",
            "",
            "Press Ctrl-C to stop.",
        ]
    )


def main() -> int:
    settings = DemoSettings.from_env()

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        with running(settings) as stack:
            print(banner(stack), flush=True)
            while (gone := stack.exited()) is None:
                time.sleep(0.5)
            print(
                f"{gone.name} stopped (exit {gone.popen.returncode}):\n{gone.log_tail()}",
                file=sys.stderr,
            )
            return 1
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping the demo.", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
