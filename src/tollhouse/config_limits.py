"""The settings that bound what callers may cost the server: request size and time,
connections, rate limits, sign-in lockouts and concurrent password checks. Part of
:class:`~tollhouse.config.Settings`, which inherits them."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tollhouse.security.ratelimit import MAX_COUNT, parse_rate

MAX_PENDING_INTERACTIONS = 1_000_000
_COUNT = re.compile(r"[0-9]{1,7}\Z")
RATE_LIMITS = (
    "rate_limit_token",
    "rate_limit_introspect",
    "rate_limit_revoke",
    "rate_limit_register",
    "rate_limit_authorize",
    "rate_limit_userinfo",
    "rate_limit_revocations",
    "rate_limit_pages",
    "rate_limit_token_client",
    "rate_limit_token_client_failures",
    "rate_limit_login_ip",
    "rate_limit_device",
    "rate_limit_device_client",
)


class AbuseLimits(BaseSettings):
    """The limits, each a ``TOLLHOUSE_<NAME>`` variable like every setting."""

    model_config = SettingsConfigDict(env_prefix="TOLLHOUSE_", frozen=True, extra="forbid")

    max_header_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024)
    """Largest request line plus header block; larger gets 414/431 (web/connection_limits.py)."""
    header_timeout: float = Field(10.0, gt=0, le=300)
    """Seconds from a request's first byte (or the connection's start) to its headers' end."""
    body_timeout: float = Field(30.0, gt=0, le=3600)
    """Seconds a request body may pause between two reads."""
    max_connections: int = Field(1000, ge=1, le=1_000_000)
    """Open connections per process; more get 503."""
    rate_limit_token: str = "10/s,burst=20"
    """Requests per client IP: ``N/PERIOD[,burst=B]`` or ``off`` (security/ratelimit.py)."""
    rate_limit_introspect: str = "100/s,burst=200"
    rate_limit_revoke: str = "10/s,burst=20"
    rate_limit_register: str = "10/min"
    rate_limit_authorize: str = "10/s,burst=50"
    rate_limit_userinfo: str = "100/s,burst=200"
    rate_limit_revocations: str = "10/s,burst=20"
    rate_limit_pages: str = "10/s,burst=50"
    """The sign-in, consent and sign-out pages and the interaction callback, one bucket
    per client IP for all of them."""
    max_pending_interactions: str = "300"
    """Sign-in requests (interaction rows) a client IP may start per ``interaction_ttl``:
    a bucket of N refilled over the TTL, so at most 2N of its rows live at once; ``off``."""
    rate_limit_token_client: str = "100/s,burst=200"
    """Authenticated /token requests per client_id, whatever the address (a fleet behind
    many IPs)."""
    rate_limit_token_client_failures: str = "10/min,burst=20"
    """Failed client authentications at /token per client_id and address: guessing a
    secret is slowed without others' failures locking the client out."""
    rate_limit_login_ip: str = "30/15min"
    """Failed sign-in attempts per client IP."""
    rate_limit_login: str | None = None
    """The one per-account count of earlier releases, still read so their configurations
    keep their meaning: ``off`` turns account lockout off, ``N/PERIOD`` locks an address
    after N failures. The ``login_lockout_*`` settings win when given."""
    login_lockout_per_address: Annotated[int, Field(ge=0, le=MAX_COUNT)] = 5
    """Failures before an account locks at one address, then everywhere; 0: off."""
    login_lockout_per_account: Annotated[int, Field(ge=0, le=MAX_COUNT)] = 50
    login_lockout_time: Annotated[int, Field(ge=1, le=86400)] = 30
    """The first lock (s), doubled per further failure up to the max (login_guard.py)."""
    login_lockout_max_time: Annotated[int, Field(ge=1, le=86400)] = 900
    password_hash_concurrency: Annotated[int, Field(ge=0, le=1024)] = 0
    """Password checks at once on the server, its workers together (64 MiB each;
    hash_gate.py, shared_slots.py); 0: one per CPU."""
    password_hash_queue: Annotated[int, Field(ge=0, le=100_000)] = 32
    password_hash_queue_time: Annotated[float, Field(ge=0, le=60)] = 5.0
    """Longest a password check waits for a free slot before 503 + Retry-After."""
    rate_limit_device: str = "20/min,burst=40"
    """Requests per client IP to /device_authorization and to the /device page."""
    rate_limit_device_client: str = "10/min,burst=20"
    """Authenticated /device_authorization requests per client_id, whatever the address:
    a fleet of devices behind many IPs asks for codes rarely."""

    @field_validator("max_pending_interactions")
    @classmethod
    def _max_pending(cls, v: str) -> str:
        text = v.strip().lower()
        if text == "off" or (_COUNT.match(text) and 1 <= int(text) <= MAX_PENDING_INTERACTIONS):
            return text
        raise ValueError(f"{v[:40]!r} is not accepted; use 1-{MAX_PENDING_INTERACTIONS} or off")

    @model_validator(mode="before")
    @classmethod
    def _earlier_login_limit(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("rate_limit_login") is None:
            return data
        try:
            rate = parse_rate(str(data["rate_limit_login"]))
        except ValueError as exc:
            raise ValueError(f"rate_limit_login (TOLLHOUSE_RATE_LIMIT_LOGIN): {exc}") from None
        derived = {"login_lockout_per_address": 0 if rate is None else rate.count}
        if rate is None:
            derived["login_lockout_per_account"] = 0
        return {**derived, **data}

    @model_validator(mode="after")
    def _consistent_limits(self) -> AbuseLimits:
        if self.login_lockout_max_time < self.login_lockout_time:
            raise ValueError("TOLLHOUSE_LOGIN_LOCKOUT_MAX_TIME must be at least the LOCKOUT_TIME")
        for name in RATE_LIMITS:
            try:
                parse_rate(getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"{name} (TOLLHOUSE_{name.upper()}): {exc}") from None
        return self
