"""The demo seeded by ``make run``: the Grid-Monitor client, its sensors API and a user.

``make demo`` (demo/run.py) runs the Grid-Monitor web client on 127.0.0.1:9000 and the
sensors API on 127.0.0.1:9001 against these records (docs/demo.md).

The demo credentials are kept in ``<data-dir>/demo.json`` (mode 0600) so every start
can print them; nothing else in Tollhouse keeps a secret in clear.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from tollhouse.cli.hashing import user_hasher
from tollhouse.clock import Clock
from tollhouse.errors import Conflict
from tollhouse.models import Api, AuthMethod, Client, GrantType, User
from tollhouse.protocol import pkce
from tollhouse.randomness import identifier, token
from tollhouse.security.client_secrets import ClientSecretHasher
from tollhouse.storage.ports import Storage

DEMO_CLIENT_ID = "grid-monitor"
DEMO_REDIRECT_URI = "http://127.0.0.1:9000/callback"
DEMO_POST_LOGOUT_URI = "http://127.0.0.1:9000/"
DEMO_API_CLIENT_ID = "sensors-api"
DEMO_API = "https://sensors.grid-monitor.test"
DEMO_SCOPE = "read_sensors"
DEMO_USERNAME = "operator"


@dataclass(frozen=True, slots=True)
class DemoCredentials:
    client_id: str
    client_secret: str
    username: str
    password: str
    api_client_id: str = DEMO_API_CLIENT_ID
    """The sensors API's own confidential client: it reads the revocation feed."""
    api_client_secret: str = ""


async def seed(
    storage: Storage, data_dir: Path, clock: Clock, client_secrets: ClientSecretHasher
) -> DemoCredentials:
    """Create the demo records once; later starts read the saved credentials."""
    path = data_dir / "demo.json"
    if path.exists() and await storage.get_client(DEMO_CLIENT_ID) is not None:
        saved = DemoCredentials(**json.loads(path.read_text()))
        # A demo.json from before the sensors API client existed is seeded afresh.
        if saved.api_client_secret and await storage.get_client(saved.api_client_id):
            return saved
    now = clock.now()
    creds = DemoCredentials(
        DEMO_CLIENT_ID, token(32), DEMO_USERNAME, token(12), DEMO_API_CLIENT_ID, token(32)
    )
    if await storage.get_api(DEMO_API) is None:
        # Conflict: an operator already defined read_sensors on another API.
        with contextlib.suppress(Conflict):
            await storage.add_api(_demo_api(now))
    await storage.delete_client(DEMO_CLIENT_ID)
    await storage.add_client(
        Client(
            client_id=DEMO_CLIENT_ID,
            name="Grid-Monitor",
            redirect_uris=(DEMO_REDIRECT_URI,),
            grant_types=(GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN),
            token_endpoint_auth_method=AuthMethod.CLIENT_SECRET_BASIC,
            created_at=now,
            secret_hash=client_secrets.hash(creds.client_secret),
            scopes=(DEMO_SCOPE, "openid", "profile", "email", "offline_access"),
            post_logout_redirect_uris=(DEMO_POST_LOGOUT_URI,),
        )
    )
    await storage.delete_client(DEMO_API_CLIENT_ID)
    await storage.add_client(
        Client(
            client_id=DEMO_API_CLIENT_ID,
            name="Sensors API (demo)",
            redirect_uris=(),
            grant_types=(),  # it only authenticates: to the feed and to /introspect
            token_endpoint_auth_method=AuthMethod.CLIENT_SECRET_BASIC,
            created_at=now,
            secret_hash=client_secrets.hash(creds.api_client_secret),
            scopes=(),
            introspect_audiences=(DEMO_API,),
        )
    )
    await storage.delete_user(DEMO_USERNAME)
    await storage.add_user(
        User(
            identifier(16),
            DEMO_USERNAME,
            user_hasher().hash(creds.password),
            now,
            email="operator@grid-monitor.test",
            name="Grid Operator",
            email_verified=True,
        )
    )
    _save(path, creds)
    return creds


def _demo_api(now: int) -> Api:
    """The sensors API, its scope described for the consent page."""
    described = {DEMO_SCOPE: "Read the grid's sensor readings"}
    return Api(DEMO_API, (DEMO_SCOPE,), now, "Grid sensors (demo)", described)


def _save(path: Path, creds: DemoCredentials) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(dataclasses.asdict(creds), handle)


def banner(
    issuer: str, creds: DemoCredentials, *, cacert: Path | None = None, code_ttl: int = 60
) -> str:
    """What ``make run`` prints: the issuer, credentials and a ready authorization URL;
    the curl example trusts ``cacert`` (the self-signed certificate) if given."""
    verifier = token(48)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": creds.client_id,
            "redirect_uri": DEMO_REDIRECT_URI,
            "scope": DEMO_SCOPE,
            "state": token(12),
            "code_challenge": pkce.challenge_for(verifier),
            "code_challenge_method": "S256",
        }
    )
    trust = f" --cacert {cacert}" if cacert is not None else ""
    return "\n".join(
        [
            f"Issuer: {issuer}",
            f"Demo client: {creds.client_id} (secret: {creds.client_secret})",
            f"Demo user: {creds.username} (password: {creds.password})",
            f"Authorization URL: {issuer}/authorize?{query}",
            f"PKCE code_verifier for that URL: {verifier}",
            "After signing in, copy the code from the callback URL and exchange it within "
            f"{code_ttl} s (TOLLHOUSE_CODE_TTL; a code works once):",
            f"  curl{trust} -u {creds.client_id}:{creds.client_secret} {issuer}/token "
            f"-d grant_type=authorization_code -d code=CODE "
            f"-d redirect_uri={DEMO_REDIRECT_URI} -d code_verifier={verifier}",
        ]
    )
