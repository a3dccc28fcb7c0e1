"""One frozen settings tree, validated once at start-up.

Every field has a ``TOLLHOUSE_<NAME>`` environment variable; CLI flags override them.
A failure stops start-up with :class:`~tollhouse.errors.ConfigError` carrying one line
that names the variable and the values it accepts. A ``TOLLHOUSE_*`` variable that
nothing reads (a typo) is reported with the nearest name (config_variables.py).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tollhouse.algorithms import DEFAULT_RSA_KEY_BITS, SigningAlg, checked_rsa_bits
from tollhouse.config_messages import reason
from tollhouse.config_urls import check_issuer, check_sqlite_url
from tollhouse.errors import ConfigError
from tollhouse.hosts import is_loopback
from tollhouse.security.outbound import AllowList
from tollhouse.security.ratelimit import MAX_COUNT, parse_rate

ENV_PREFIX = "TOLLHOUSE_"

MAX_ACCESS_TOKEN_TTL = 3600
MAX_CODE_TTL = 60
MAX_LOGO_BYTES = 512 * 1024
RATE_LIMITS = (
    "rate_limit_token",
    "rate_limit_introspect",
    "rate_limit_revoke",
    "rate_limit_register",
    "rate_limit_token_client",
    "rate_limit_token_client_failures",
    "rate_limit_login_ip",
)


class Settings(BaseSettings):
    """The whole configuration. Construct with :func:`load_settings`."""

    model_config = SettingsConfigDict(env_prefix="TOLLHOUSE_", frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8443
    issuer: str | None = None
    data_dir: Path = Path(".tollhouse")
    database: str | None = None
    redis: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure_http: bool = False
    workers: int = 1
    max_header_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024)
    """Largest request line plus header block; larger gets 414/431 (web/connection_limits.py)."""
    header_timeout: float = Field(10.0, gt=0, le=300)
    """Seconds from a request's first byte (or the connection's start) to its headers' end."""
    body_timeout: float = Field(30.0, gt=0, le=3600)
    """Seconds a request body may pause between two reads."""
    max_connections: int = Field(1000, ge=1, le=1_000_000)
    """Open connections per process; more get 503."""
    master_key: str | None = None
    signing_alg: SigningAlg = "ES256"
    rsa_key_bits: int = DEFAULT_RSA_KEY_BITS
    """Modulus of new RS256 keys (algorithms.py says why 2048 by default); keys already
    stored keep theirs until rotated."""
    access_token_ttl: int = 900
    refresh_token_ttl: int = 30 * 24 * 3600
    """Idle lifetime of a refresh token: unused this long, it expires."""
    refresh_token_absolute_ttl: int = 90 * 24 * 3600
    """Absolute lifetime of a refresh token family, however often it rotates."""
    refresh_grace_period: int = 0
    """Seconds during which a just-rotated refresh token may be presented again without
    revoking its family (lost responses); 0 turns it off."""
    purge_interval: int = 60
    purge_batch: int = 500
    code_ttl: int = 60
    session_ttl: int = 8 * 3600
    """Absolute lifetime of a browser session (single sign-on)."""
    session_idle_ttl: int = 3600
    """A session unused this long ends."""
    id_token_ttl: int = 600
    interaction_ttl: int = 600
    registration: Literal["token", "open", "off"] = "token"
    mfa: Literal["off", "optional", "required"] = "optional"
    """Second factors (docs/mfa.md): asked of users who have one; ``required``: of all."""
    default_client_scopes: str | None = None
    rate_limit_token: str = "10/s,burst=20"
    """Requests per client IP: ``N/PERIOD[,burst=B]`` or ``off`` (security/ratelimit.py)."""
    rate_limit_introspect: str = "100/s,burst=200"
    rate_limit_revoke: str = "10/s,burst=20"
    rate_limit_register: str = "10/min"
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
    """Password checks at once (64 MiB each; hash_gate.py); 0: the CPUs / the workers."""
    password_hash_queue: Annotated[int, Field(ge=0, le=100_000)] = 32
    password_hash_queue_time: Annotated[float, Field(ge=0, le=60)] = 5.0
    """Longest a password check waits for a free slot before 503 + Retry-After."""
    seed_demo: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    key_reload_interval: int = 10
    key_lead_time: int = 3600
    """Seconds a rotated key is published before it signs: at least as long as resource
    servers cache the JWKS. 0: it signs at once."""
    key_rotation_days: int = 90
    """Automatic rotation of each signing alg's key at this age; 0 turns it off."""
    client_cache_ttl: float = 5.0
    """Longest a server process keeps a looked-up client and the API list
    (storage/hot_cache.py); a change by any process is seen within a second regardless
    (ADR 0011). 0 turns the caches off; at most 60."""
    trusted_proxies: str | None = None
    """IPs / CIDR networks (comma or space separated) whose X-Forwarded-For and
    X-Forwarded-Proto are honoured (web/proxy.py); from other peers they are ignored."""
    outbound_allow: str | None = None
    """Internal targets clients registered over HTTP may still use (security/outbound.py):
    IPs, CIDR networks and host names, comma or space separated."""
    operator_name: str = "Tollhouse"
    """Shown on every page (docs/oidc.md, page customisation)."""
    operator_logo: Path | None = None
    """A PNG or SVG file served at ``/branding/logo`` and shown on every page."""
    login_url: str | None = None
    """The operator's own login page (interaction API); unset: the built-in one."""
    consent_url: str | None = None
    """The operator's own consent page (interaction API); unset: the built-in one."""
    access_log: Path | None = None
    """File the access log (one JSON line per request) is appended to, reopened on
    SIGHUP for logrotate (logs.py); unset: stderr, with the other log lines."""
    access_log_buffer: Annotated[int, Field(ge=65536, le=1 << 30)] = 4 * 1024 * 1024
    """Bytes of access log lines kept in memory while their destination takes none
    (observability/access_log.py); past that, lines are dropped and counted."""

    @field_validator("access_log")
    @classmethod
    def _access_log(cls, v: Path | None) -> Path | None:
        if v is None:
            return None
        if v.is_dir():
            raise ValueError(f"is a directory, expected a file: {str(v)!r}")
        parent = v.parent if str(v.parent) else Path(".")
        if not parent.is_dir():
            raise ValueError(f"directory {str(parent)!r} does not exist")
        if not os.access(v if v.exists() else parent, os.W_OK):
            raise ValueError(f"cannot write {str(v)!r} (permission denied)")
        return v

    @field_validator("database")
    @classmethod
    def _database(cls, v: str | None) -> str | None:
        if v is not None and v.startswith(("sqlite:", "sqlite+aiosqlite:")):
            check_sqlite_url(v)
        return v

    @field_validator("client_cache_ttl")
    @classmethod
    def _client_cache_ttl(cls, v: float) -> float:
        if not 0 <= v <= 60:
            raise ValueError("must be between 0 and 60 seconds")
        return v

    @field_validator("operator_name")
    @classmethod
    def _operator_name(cls, v: str) -> str:
        if not v.strip() or len(v) > 100:
            raise ValueError("must be 1-100 characters")
        return v.strip()

    @field_validator("operator_logo")
    @classmethod
    def _operator_logo(cls, v: Path | None) -> Path | None:
        if v is None:
            return None
        if v.suffix.lower() not in (".png", ".svg"):
            raise ValueError(f"must be a .png or .svg file, got {str(v)!r}")
        if not v.is_file():
            raise ValueError(f"no such file: {str(v)!r}")
        if v.stat().st_size > MAX_LOGO_BYTES:
            raise ValueError(f"must be at most {MAX_LOGO_BYTES // 1024} KiB: {str(v)!r}")
        return v

    @field_validator("login_url", "consent_url")
    @classmethod
    def _interaction_url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        parts = urlsplit(v)
        if parts.fragment or not parts.hostname:
            raise ValueError(f"must be an absolute URL without a fragment: {v!r}")
        loopback_http = parts.scheme == "http" and is_loopback(parts.hostname)
        if parts.scheme == "https" or loopback_http:
            return v
        raise ValueError(f"must be an https URL (http only on loopback): {v!r}")

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, v: str | None) -> str | None:
        for item in (v or "").replace(",", " ").split():
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
        return v

    @field_validator("outbound_allow")
    @classmethod
    def _outbound_allow(cls, v: str | None) -> str | None:
        AllowList.parse(v)
        return v

    @field_validator("access_token_ttl")
    @classmethod
    def _access_ttl(cls, v: int) -> int:
        if not 1 <= v <= MAX_ACCESS_TOKEN_TTL:
            raise ValueError(f"must be between 1 and {MAX_ACCESS_TOKEN_TTL} seconds, got {v}")
        return v

    @field_validator("code_ttl")
    @classmethod
    def _code_ttl(cls, v: int) -> int:
        if not 1 <= v <= MAX_CODE_TTL:
            raise ValueError(f"must be between 1 and {MAX_CODE_TTL} seconds, got {v}")
        return v

    @field_validator("refresh_grace_period")
    @classmethod
    def _grace(cls, v: int) -> int:
        if not 0 <= v <= 300:
            raise ValueError(f"must be between 0 and 300 seconds, got {v}")
        return v

    @field_validator(
        "refresh_token_ttl",
        "refresh_token_absolute_ttl",
        "session_ttl",
        "session_idle_ttl",
        "id_token_ttl",
        "interaction_ttl",
        "key_reload_interval",
        "purge_interval",
        "purge_batch",
    )
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"must be a positive number of seconds, got {v}")
        return v

    @field_validator("key_lead_time", "key_rotation_days")
    @classmethod
    def _not_negative(cls, v: int) -> int:
        if v < 0:
            raise ValueError(f"must be 0 or more, got {v}")
        return v

    @field_validator("port")
    @classmethod
    def _port(cls, v: int) -> int:
        if not 0 <= v <= 65535:
            raise ValueError(f"must be 0-65535, got {v}")
        return v

    @field_validator("rsa_key_bits")
    @classmethod
    def _rsa_key_bits(cls, v: int) -> int:
        return checked_rsa_bits(v)

    @field_validator("workers")
    @classmethod
    def _workers(cls, v: int) -> int:
        if not 1 <= v <= 64:
            raise ValueError(f"must be 1-64, got {v}")
        return v

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
    def _consistent(self) -> Settings:
        if self.insecure_http and not is_loopback(self.host):
            raise ValueError(
                f"--insecure-http is refused on the non-loopback address {self.host}; "
                "bind to 127.0.0.1 or ::1, or serve HTTPS"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--tls-cert and --tls-key must be given together")
        if self.issuer is not None:
            check_issuer(self.issuer, self.insecure_http)
        if self.database is not None and not self.database.startswith(
            ("sqlite:", "sqlite+aiosqlite:", "postgresql:", "postgresql+asyncpg:", "postgres:")
        ):
            raise ValueError(
                f"database must be sqlite:///PATH or postgresql://..., got {self.database!r}"
            )
        if self.login_lockout_max_time < self.login_lockout_time:
            raise ValueError("TOLLHOUSE_LOGIN_LOCKOUT_MAX_TIME must be at least the LOCKOUT_TIME")
        for name in RATE_LIMITS:
            try:
                parse_rate(getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"{name} (TOLLHOUSE_{name.upper()}): {exc}") from None
        return self

    # Derived values ---------------------------------------------------------------

    @property
    def scheme(self) -> str:
        return "http" if self.insecure_http else "https"

    @property
    def issuer_url(self) -> str:
        if self.issuer:
            return self.issuer.rstrip("/")
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        elif host in ("0.0.0.0", "127.0.0.1") and not self.insecure_http:  # noqa: S104
            host = "localhost"
        default_port = 80 if self.insecure_http else 443
        port = "" if self.port == default_port else f":{self.port}"
        return f"{self.scheme}://{host}{port}"

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{(self.data_dir / 'tollhouse.db').resolve()}"

    @property
    def development_mode(self) -> bool:
        """Loopback plain-HTTP serving with a loopback issuer: error pages may show
        registered redirect URIs. Behind a TLS proxy (an https issuer) they never do."""
        return (
            self.insecure_http and is_loopback(self.host) and self.issuer_url.startswith("http://")
        )


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment plus explicit overrides (CLI flags).

    ``None`` overrides are ignored so unset flags fall back to the environment.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "configuration"
        env = f" ({ENV_PREFIX}{where.upper()})" if first["loc"] else ""
        raise ConfigError(f"invalid {where}{env}: {reason(where, first)}") from None
