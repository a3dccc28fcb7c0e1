"""One frozen settings tree, validated once at start-up.

Every field has a ``TOLLHOUSE_<NAME>`` environment variable; CLI flags override them.
A failure stops start-up with :class:`~tollhouse.errors.ConfigError` carrying one line
that names the variable and the values it accepts. A ``TOLLHOUSE_*`` variable that
nothing reads (a typo) is reported with the nearest name (config_variables.py).
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from tollhouse.algorithms import DEFAULT_RSA_KEY_BITS, SigningAlg, checked_rsa_bits
from tollhouse.config_limits import AbuseLimits
from tollhouse.config_messages import reason
from tollhouse.config_urls import check_issuer, check_sqlite_url
from tollhouse.errors import ConfigError
from tollhouse.hosts import is_loopback
from tollhouse.observability.access_log import ACCESS_LOG_OFF
from tollhouse.security.outbound import AllowList

ENV_PREFIX = "TOLLHOUSE_"

MAX_ACCESS_TOKEN_TTL = 3600
MAX_CODE_TTL = 60
MAX_DEVICE_CODE_TTL = 1800
MAX_LOGO_BYTES = 512 * 1024
_BEARER = re.compile(r"(?=.{32,512}\Z)[A-Za-z0-9._~+/-]+=*\Z")
"""RFC 6750 §2.1 ``b64token``, long enough not to be guessed."""


class Settings(AbuseLimits):
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
    device_code_ttl: int = 600
    """RFC 8628 ``expires_in``: how long a device's request waits for a person."""
    device_interval: int = 5
    """RFC 8628 ``interval``: seconds a device waits between polls."""
    session_ttl: int = 8 * 3600
    """Absolute lifetime of a browser session (single sign-on)."""
    session_idle_ttl: int = 3600
    """A session unused this long ends."""
    id_token_ttl: int = 600
    interaction_ttl: int = 600
    registration: Literal["token", "open", "off"] = "token"
    require_par: bool = False
    """Every client must push its authorization requests to /par first (RFC 9126 §5)."""
    client_assertion_max_lifetime: Annotated[int, Field(ge=60, le=3600)] = 300
    """Seconds a private_key_jwt assertion's ``exp`` may lie ahead (RFC 7523 §3 item 4);
    clients that date theirs an hour ahead (Authlib) need 3600."""
    profile: Literal["none", "fapi2"] = "none"
    """``fapi2``: enforce the FAPI 2.0 Security Profile for every client
    (protocol/profile.py)."""
    dpop_nonce: Literal["off", "public", "all"] = "public"
    """RFC 9449 §8: which DPoP token requests must carry a server nonce
    (docs/sender-constrained.md)."""
    dpop_proof_window: Annotated[int, Field(ge=5, le=600)] = 60
    """Seconds a DPoP proof's ``iat`` may differ from the server's clock."""
    mfa: Literal["off", "optional", "required"] = "optional"
    """Second factors (docs/mfa.md): asked of users who have one; ``required``: of all."""
    default_client_scopes: str | None = None
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
    tls_client_cert_header: str | None = None
    """The header in which a trusted proxy passes the client's TLS certificate (nginx:
    ``$ssl_client_escaped_cert``); ignored from other peers (web/client_cert.py)."""
    tls_client_ca: Path | None = None
    """CA bundle (PEM) against which built-in TLS verifies client certificates, asked
    for optionally (RFC 8705); unset: no certificate is asked for."""
    mtls_base_url: str | None = None
    """Where clients reach the endpoints with mutual TLS, when that is another host or
    port: discovery's ``mtls_endpoint_aliases`` (RFC 8705 §5)."""
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
    metrics_token: str | None = None
    """Bearer token that lets a caller other than loopback read ``/metrics`` on the main
    listener (web/metrics_access.py): at least 32 characters of RFC 6750 ``b64token``."""
    metrics_public: bool = False
    """``/metrics`` on the main listener answers every caller (opt-in: for a network that
    keeps it private by other means)."""
    metrics_port: int | None = None
    """A second listener serving only ``/metrics``, to every caller that reaches it."""
    metrics_host: str | None = None
    """Address of the metrics listener; unset: the main listener's ``host``."""
    access_log: Path | Literal["off"] | None = None
    """File the access log (one JSON line per request) is appended to, reopened on
    SIGHUP for logrotate (logs.py); ``off``: no access log, every other line (the audit
    trail's among them) still written at ``log_level``; unset: stderr, with the other
    log lines. A file named ``off`` is ``./off``."""
    access_log_buffer: Annotated[int, Field(ge=65536, le=1 << 30)] = 4 * 1024 * 1024
    """Bytes of access log lines kept in memory while their destination takes none
    (observability/access_log.py); past that, lines are dropped and counted."""

    @field_validator("access_log", mode="before")
    @classmethod
    def _access_log_off(cls, v: object) -> object:
        """``off`` in any case is the switch; any other text, ``./off`` too, is a path."""
        if isinstance(v, str) and v.lower() == ACCESS_LOG_OFF:
            return ACCESS_LOG_OFF
        return v

    @field_validator("access_log")
    @classmethod
    def _access_log(cls, v: Path | Literal["off"] | None) -> Path | Literal["off"] | None:
        if v is None or isinstance(v, str):  # unset, or off
            return v
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

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if not _BEARER.match(v):
            raise ValueError(
                "must be at least 32 characters of A-Z a-z 0-9 - . _ ~ + / "
                "(e.g. openssl rand -hex 32)"
            )
        return v

    @field_validator("metrics_port")
    @classmethod
    def _metrics_port(cls, v: int | None) -> int | None:
        if v is not None and not 1 <= v <= 65535:
            raise ValueError(f"must be 1-65535, got {v}")
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

    @field_validator("device_code_ttl")
    @classmethod
    def _device_code_ttl(cls, v: int) -> int:
        if not 60 <= v <= MAX_DEVICE_CODE_TTL:
            raise ValueError(f"must be between 60 and {MAX_DEVICE_CODE_TTL} seconds, got {v}")
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
        "device_interval",
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
