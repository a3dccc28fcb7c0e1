"""Where the demo processes listen, from ``DEMO_*`` environment variables."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
"""Everything binds to loopback: the IdP runs with --insecure-http, allowed only there."""

API_IDENTIFIER = "https://sensors.grid-monitor.test"
"""The sensors API's identifier at the IdP (``aud`` of its tokens); cli/demo.py seeds it."""

SCOPES = "openid profile email offline_access read_sensors"
SEND_SCOPE = "send_readings"
"""The sensors API's scope for devices that report readings (``POST /readings``);
demo/run.py adds it to the seeded API."""

HUB_CLIENT_ID = "sensor-hub"
"""The sensor hub's public client (the device grant, no secret), registered by demo/run.py."""

FIELD_CLIENT_ID = "field-technician"
"""The single-page app's public client (PKCE, no secret), registered by demo/run.py."""
FIELD_SCOPES = "openid profile email"


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a port number, got {raw!r}") from None
    if not 1 <= value <= 65535:
        raise SystemExit(f"{name} must be a port number, got {raw!r}")
    return value


def _idp_host(value: str) -> str:
    """Only loopback names: the demo serves plain HTTP."""
    if value not in (HOST, "localhost"):
        raise SystemExit(f"DEMO_IDP_HOST must be {HOST} or localhost, not {value!r}")
    return value


@dataclass(frozen=True)
class DemoSettings:
    idp_port: int = 8080
    client_port: int = 9000
    api_port: int = 9001
    data_dir: Path = Path(".tollhouse-demo")
    field_port: int = 9002
    hub_port: int = 9003
    idp_host: str = HOST
    """The issuer's host name. Passkeys need a name, not an IP address (WebAuthn's
    relying party id): ``DEMO_IDP_HOST=localhost`` for the passkey action."""

    @classmethod
    def from_env(cls) -> DemoSettings:
        """``DEMO_IDP_PORT``, ``DEMO_CLIENT_PORT``, ``DEMO_API_PORT``, ``DEMO_DATA_DIR``,
        ``DEMO_SPA_PORT``, ``DEMO_HUB_PORT``, ``DEMO_IDP_HOST``."""
        default = cls()
        return cls(
            idp_port=_port("DEMO_IDP_PORT", default.idp_port),
            client_port=_port("DEMO_CLIENT_PORT", default.client_port),
            api_port=_port("DEMO_API_PORT", default.api_port),
            data_dir=Path(os.environ.get("DEMO_DATA_DIR") or default.data_dir),
            field_port=_port("DEMO_SPA_PORT", default.field_port),
            hub_port=_port("DEMO_HUB_PORT", default.hub_port),
            idp_host=_idp_host(os.environ.get("DEMO_IDP_HOST") or default.idp_host),
        )

    @property
    def issuer(self) -> str:
        return f"http://{self.idp_host}:{self.idp_port}"

    @property
    def client_url(self) -> str:
        return f"http://{HOST}:{self.client_port}"

    @property
    def redirect_uri(self) -> str:
        return f"{self.client_url}/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return f"{self.client_url}/"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def field_url(self) -> str:
        """The field technician's single-page app (demo/field_app.py), its own origin."""
        return f"http://{HOST}:{self.field_port}"

    @property
    def hub_url(self) -> str:
        """The sensor hub's status page (demo/sensor_hub.py)."""
        return f"http://{HOST}:{self.hub_port}"

    @property
    def field_redirect_uri(self) -> str:
        return f"{self.field_url}/callback"


@dataclass(frozen=True)
class Credentials:
    """What ``tollhouse serve --seed-demo`` saved in ``<data-dir>/demo.json``."""

    client_id: str
    client_secret: str
    username: str
    password: str
    api_client_id: str
    api_client_secret: str

    @classmethod
    def load(cls, data_dir: Path) -> Credentials:
        saved = json.loads((data_dir / "demo.json").read_text())
        return cls(**{name: str(saved[name]) for name in cls.__dataclass_fields__})
