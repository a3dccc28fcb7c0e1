"""Unsafe-but-valid settings: what ``tollhouse doctor`` reports and ``serve`` warns about.

:func:`tollhouse.config.load_settings` already refuses settings that cannot work (an
access token lifetime over 3600 s, ``--insecure-http`` off loopback, an http issuer on a
public host); what is left here starts, and is risky. The thresholds follow RFC 9700
(§4.10 short-lived, audience-restricted tokens; §4.14.2 refresh token rotation with
replay detection; §4.1.1 and §4.12 TLS) and node-oidc-provider's start-up warnings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from tollhouse.config import Settings
from tollhouse.config_variables import unknown_variables
from tollhouse.diagnostics.findings import Finding, Level, error, ok, warning
from tollhouse.hosts import is_loopback

CHECK = "config"
LONG_ACCESS_TOKEN_TTL = 900
"""Above this (the default), a leaked access token stays useful for longer."""
LONG_REFRESH_IDLE_TTL = 30 * 24 * 3600
LONG_REFRESH_ABSOLUTE_TTL = 90 * 24 * 3600
LONG_SESSION_TTL = 24 * 3600
LONG_INTERACTION_TTL = 3600


def check_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> list[Finding]:
    """Every risky setting, and every ``TOLLHOUSE_*`` variable of ``environ`` (default:
    this process's) that nothing reads, as a warning; one ``ok`` finding when there is
    none."""
    found = [
        *_unknown_variables(os.environ if environ is None else environ),
        *_token_lifetimes(settings),
        *_browser_lifetimes(settings),
        *_transport(settings),
        *_deployment(settings),
        *_abuse(settings),
    ]
    if not found:
        found.append(ok(CHECK, f"settings are valid and safe; issuer {settings.issuer_url}"))
    return found


def startup_warnings(settings: Settings) -> list[Finding]:
    """What ``tollhouse serve`` prints on stderr before it starts listening."""
    return [f for f in check_settings(settings) if f.level is not Level.OK]


def invalid_settings(message: str) -> Finding:
    """The settings do not load at all: the server cannot start."""
    return error(
        CHECK,
        f"the server cannot start: {message}",
        "fix the flag or TOLLHOUSE_* variable named above (README, Configuration)",
    )


def _unknown_variables(environ: Mapping[str, str]) -> list[Finding]:
    """A misspelt variable is otherwise ignored without a word, its default in force."""
    return [
        warning(
            CHECK,
            f"{name} is not a Tollhouse variable and is ignored",
            f"did you mean {nearest}?"
            if nearest
            else "remove it; README, Configuration, lists every variable",
        )
        for name, nearest in unknown_variables(environ)
    ]


def _token_lifetimes(s: Settings) -> list[Finding]:
    """Access and refresh tokens that outlive what RFC 9700 §4.10 and §4.14.2 advise."""
    found: list[Finding] = []
    if s.access_token_ttl > LONG_ACCESS_TOKEN_TTL:
        found.append(
            warning(
                CHECK,
                f"access tokens live {s.access_token_ttl} s (TOLLHOUSE_ACCESS_TOKEN_TTL); "
                "a leaked one is usable that long (RFC 9700 §4.10)",
                f"keep it at or below {LONG_ACCESS_TOKEN_TTL} s and let clients refresh",
            )
        )
    if s.refresh_token_ttl > LONG_REFRESH_IDLE_TTL:
        found.append(
            warning(
                CHECK,
                f"refresh tokens stay valid unused for {_days(s.refresh_token_ttl)} "
                "(TOLLHOUSE_REFRESH_TOKEN_TTL)",
                f"keep the idle lifetime at or below {_days(LONG_REFRESH_IDLE_TTL)}",
            )
        )
    if s.refresh_token_absolute_ttl > LONG_REFRESH_ABSOLUTE_TTL:
        found.append(
            warning(
                CHECK,
                f"a refresh token family lives {_days(s.refresh_token_absolute_ttl)} "
                "(TOLLHOUSE_REFRESH_TOKEN_ABSOLUTE_TTL)",
                f"keep it at or below {_days(LONG_REFRESH_ABSOLUTE_TTL)}; users sign in again",
            )
        )
    if s.refresh_token_ttl > s.refresh_token_absolute_ttl:
        found.append(
            warning(
                CHECK,
                "the refresh token idle lifetime exceeds the absolute one, which always wins",
                "set TOLLHOUSE_REFRESH_TOKEN_TTL below TOLLHOUSE_REFRESH_TOKEN_ABSOLUTE_TTL",
            )
        )
    if s.refresh_grace_period > 0:
        found.append(
            warning(
                CHECK,
                f"refresh token grace period is {s.refresh_grace_period} s "
                "(TOLLHOUSE_REFRESH_GRACE_PERIOD): a replayed refresh token inside it does "
                "not revoke its family (RFC 9700 §4.14.2 replay detection is relaxed)",
                "set it to 0 unless clients lose refresh responses (docs/tokens.md)",
            )
        )
    return found


def _browser_lifetimes(s: Settings) -> list[Finding]:
    """Sign-in state in the browser that stays open longer than it needs to."""
    found: list[Finding] = []
    if s.session_ttl > LONG_SESSION_TTL:
        found.append(
            warning(
                CHECK,
                f"browser sessions last {_hours(s.session_ttl)} (TOLLHOUSE_SESSION_TTL)",
                f"keep it at or below {_hours(LONG_SESSION_TTL)}",
            )
        )
    if s.interaction_ttl > LONG_INTERACTION_TTL:
        found.append(
            warning(
                CHECK,
                f"a pending sign-in stays open {s.interaction_ttl} s (TOLLHOUSE_INTERACTION_TTL)",
                f"keep it at or below {LONG_INTERACTION_TTL} s",
            )
        )
    return found


def _transport(s: Settings) -> list[Finding]:
    found: list[Finding] = []
    issuer_host = urlsplit(s.issuer_url).hostname or ""
    if s.insecure_http:
        found.append(
            warning(
                CHECK,
                f"plain HTTP development mode: issuer {s.issuer_url} is http, so tokens and "
                "passwords cross the wire unencrypted and error pages show registered "
                "redirect URIs (loopback only)",
                "serve HTTPS (drop --insecure-http) for anything but local development",
            )
        )
    elif s.tls_cert is None and not is_loopback(issuer_host):
        found.append(
            warning(
                CHECK,
                f"no --tls-cert: a self-signed certificate for localhost is served, but the "
                f"issuer host is {issuer_host}",
                "pass --tls-cert/--tls-key (TOLLHOUSE_TLS_CERT/KEY) with a certificate for it",
            )
        )
    if s.issuer is None and not is_loopback(s.host):
        found.append(
            warning(
                CHECK,
                f"no issuer set: it is derived from the bind address as {s.issuer_url}, "
                "which remote clients cannot use",
                "set --issuer / TOLLHOUSE_ISSUER to the public https URL",
            )
        )
    if s.redis:
        parts = urlsplit(s.redis)
        if parts.scheme == "redis" and not is_loopback(parts.hostname or ""):
            found.append(
                warning(
                    CHECK,
                    f"Redis at {parts.hostname} is reached without TLS (redis://)",
                    "use rediss:// or keep Redis on a private network",
                )
            )
    return found


def _deployment(s: Settings) -> list[Finding]:
    found: list[Finding] = []
    if s.seed_demo:
        found.append(
            warning(
                CHECK,
                "--seed-demo: the demo client and user are created with credentials kept "
                "in clear in <data-dir>/demo.json",
                "drop --seed-demo (TOLLHOUSE_SEED_DEMO) outside local try-outs",
            )
        )
    if s.workers > 1 and not s.redis:
        found.append(
            warning(
                CHECK,
                f"{s.workers} workers without --redis: rate limits and replay caches are "
                "kept per process",
                "pass --redis (TOLLHOUSE_REDIS) so the workers share them",
            )
        )
    return found


def _abuse(s: Settings) -> list[Finding]:
    found: list[Finding] = []
    if s.registration == "open":
        found.append(
            warning(
                CHECK,
                "dynamic client registration is open: anyone can register a client "
                "(TOLLHOUSE_REGISTRATION=open)",
                "use TOLLHOUSE_REGISTRATION=token (initial access tokens) or off",
            )
        )
    if s.rate_limit_token.strip().lower() == "off":
        found.append(
            _unprotected(
                "rate limiting of /token is off (TOLLHOUSE_RATE_LIMIT_TOKEN=off)",
                "remove TOLLHOUSE_RATE_LIMIT_TOKEN to get the default limit",
            )
        )
    if not s.login_lockout_per_address and not s.login_lockout_per_account:
        found.append(
            _unprotected(
                "the sign-in lockout is off (TOLLHOUSE_LOGIN_LOCKOUT_PER_ADDRESS and "
                "_PER_ACCOUNT are 0)",
                "remove both to get the default lockout (5 per address, 50 per account)",
            )
        )
    if s.metrics_public and not is_loopback(s.host):
        found.append(
            warning(
                CHECK,
                "/metrics answers every caller on the public listener "
                "(TOLLHOUSE_METRICS_PUBLIC=true)",
                "scrape with TOLLHOUSE_METRICS_TOKEN or serve --metrics-port instead",
            )
        )
    return found


def _unprotected(what: str, fix: str) -> Finding:
    return warning(CHECK, f"{what}: brute force is not slowed down (RFC 6749 §10.10)", fix)


def _days(seconds: int) -> str:
    return f"{seconds / 86400:g} days"


def _hours(seconds: int) -> str:
    return f"{seconds / 3600:g} h"
