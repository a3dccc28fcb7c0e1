"""``tollhouse doctor --url``: ask a running server what it publishes.

``/healthz`` answers, the discovery document names this issuer (RFC 8414 §3.3: "The
issuer value returned MUST be identical to the authorization server's issuer
identifier"), every endpoint lives under it, the JWKS equals the keys table, and the
server's ``Date`` header agrees with this machine's clock.
"""

from __future__ import annotations

import math
import ssl
import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from tollhouse.diagnostics.database_checks import check_clock
from tollhouse.diagnostics.findings import Finding, error, ok
from tollhouse.diagnostics.key_checks import check_published
from tollhouse.models import SigningKey

CHECK = "server"
DATE_RESOLUTION = 1.0
"""The ``Date`` header has whole seconds."""


def tls_context(extra_ca: Sequence[Path]) -> ssl.SSLContext:
    """The system trust store plus the server's own (possibly self-signed) certificate."""
    context = ssl.create_default_context()
    for path in extra_ca:
        if path.is_file():
            try:
                context.load_verify_locations(cafile=str(path))
            except (ssl.SSLError, OSError):
                continue
    return context


async def probe(
    url: str,
    issuer: str,
    keys: Sequence[SigningKey] | None,
    *,
    verify: ssl.SSLContext | bool = True,
    seconds: float = 5.0,
) -> list[Finding]:
    base = url.rstrip("/")
    found: list[Finding] = []
    async with httpx.AsyncClient(timeout=seconds, verify=verify, follow_redirects=False) as http:
        try:
            started = time.time()
            health = await http.get(f"{base}/healthz")
            finished = time.time()
        except httpx.HTTPError as exc:
            return [
                error(
                    CHECK,
                    f"{base}/healthz cannot be reached: {_reason(exc)}",
                    "start the server, or check --url (and the certificate it presents)",
                )
            ]
        if health.status_code != 200:
            found.append(
                error(
                    CHECK,
                    f"{base}/healthz answered {health.status_code}",
                    "read the server's log (JSON lines on stderr)",
                )
            )
        else:
            found.append(ok(CHECK, f"{base}/healthz answers 200"))
        found.extend(_date_skew(health, (started + finished) / 2))
        document = await _json(http, f"{base}/.well-known/openid-configuration", found)
        if isinstance(document, dict):
            found.extend(check_discovery(document, issuer))
        jwks = await _json(http, f"{base}/jwks.json", found)
        if jwks is not None and keys is not None:
            found.extend(check_published(keys, jwks, f"{base}/jwks.json"))
    return found


def check_discovery(document: dict[str, Any], issuer: str) -> list[Finding]:
    served = document.get("issuer")
    if served != issuer:
        return [
            error(
                CHECK,
                f"discovery names issuer {served!r}, but this configuration's issuer is "
                f"{issuer!r}: clients and resource servers refuse the mismatch",
                "give the server and this command the same --issuer / TOLLHOUSE_ISSUER",
            )
        ]
    outside = sorted(
        name
        for name, value in document.items()
        if (name.endswith("_endpoint") or name == "jwks_uri")
        and isinstance(value, str)
        and not value.startswith(issuer + "/")
    )
    if outside:
        return [
            error(
                CHECK,
                f"discovery endpoints outside the issuer: {', '.join(outside)}",
                "set --issuer to the URL clients use to reach the server",
            )
        ]
    return [ok(CHECK, f"discovery names issuer {issuer} and endpoints under it")]


async def _json(http: httpx.AsyncClient, url: str, found: list[Finding]) -> Any:
    try:
        response = await http.get(url)
    except httpx.HTTPError as exc:
        found.append(error(CHECK, f"{url} cannot be fetched: {_reason(exc)}", "check --url"))
        return None
    if response.status_code != 200:
        found.append(
            error(CHECK, f"{url} answered {response.status_code}", "read the server's log")
        )
        return None
    try:
        return response.json()
    except ValueError:
        found.append(error(CHECK, f"{url} did not answer JSON", "check --url"))
        return None


def _date_skew(response: httpx.Response, local: float) -> list[Finding]:
    header = response.headers.get("date")
    if not header:
        return []
    try:
        remote = parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        return []
    # Whole seconds: the server's time lies in [remote, remote + 1).
    skew = remote + DATE_RESOLUTION / 2 - local
    adjusted = math.copysign(max(0.0, abs(skew) - DATE_RESOLUTION / 2), skew)
    return [check_clock(adjusted, "the server (Date header)")]


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__
