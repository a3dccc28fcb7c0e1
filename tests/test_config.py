"""Configuration mistakes are named: the accepted values of a refused one, and the
nearest known name of a ``TOLLHOUSE_*`` variable nothing reads."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tollhouse.config import Settings, load_settings
from tollhouse.config_variables import known_variables, unknown_variables
from tollhouse.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.upper().startswith("TOLLHOUSE_"):
            monkeypatch.delenv(name)
    yield


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("INSECURE_HTTP", "maybe", "'maybe' is not a boolean; use 1, true, yes or 0, false, no"),
        ("ACCESS_TOKEN_TTL", "15m", "'15m' is not a whole number of seconds"),
        ("KEY_ROTATION_DAYS", "1.5", "'1.5' is not a whole number of days"),
        ("PURGE_BATCH", "lots", "'lots' is not a whole number"),
        ("CLIENT_CACHE_TTL", "soon", "'soon' is not a number of seconds"),
        ("REGISTRATION", "closed", "'closed' is not accepted; use 'token', 'open' or 'off'"),
        ("PASSWORD_HASH_CONCURRENCY", "-1", "must be at least 0, got '-1'"),
        ("PASSWORD_HASH_QUEUE_TIME", "600", "must be at most 60, got '600'"),
        ("MAX_HEADER_BYTES", "100", "must be at least 1024, got '100'"),
        ("HEADER_TIMEOUT", "0", "must be more than 0, got '0'"),
        ("BODY_TIMEOUT", "soon", "'soon' is not a number of seconds"),
        ("MAX_CONNECTIONS", "0", "must be at least 1, got '0'"),
        ("ACCESS_LOG_BUFFER", "4096", "must be at least 65536, got '4096'"),
        ("ACCESS_LOG_BUFFER", "4M", "'4M' is not a whole number"),
        (
            "METRICS_TOKEN",
            "short",
            "must be at least 32 characters of A-Z a-z 0-9 - . _ ~ + / (e.g. openssl rand -hex 32)",
        ),
        ("METRICS_PORT", "70000", "must be 1-65535, got 70000"),
        ("MAX_PENDING_INTERACTIONS", "0", "'0' is not accepted; use 1-1000000 or off"),
    ],
)
def test_refused_values_name_the_variable_and_what_it_accepts(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(f"TOLLHOUSE_{variable}", value)

    with pytest.raises(ConfigError) as caught:
        load_settings()

    text = str(caught.value)
    assert text == f"invalid {variable.lower()} (TOLLHOUSE_{variable}): {message}"
    assert "\n" not in text and "pydantic" not in text and "Input should" not in text


@pytest.mark.parametrize("token", ["x" * 31, "x" * 40 + " ", "x" * 40 + "\n", "é" * 40, "x" * 513])
def test_a_metrics_token_must_be_a_long_bearer_token(
    monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    monkeypatch.setenv("TOLLHOUSE_METRICS_TOKEN", token)
    with pytest.raises(ConfigError, match="TOLLHOUSE_METRICS_TOKEN"):
        load_settings()


def test_a_generated_metrics_token_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLHOUSE_METRICS_TOKEN", "0123456789abcdef" * 4)
    assert load_settings().metrics_token == "0123456789abcdef" * 4
    monkeypatch.setenv("TOLLHOUSE_METRICS_TOKEN", "A-._~+/" * 5 + "==")
    assert load_settings().metrics_token


@pytest.mark.parametrize("value", ["1", "true", "yes", "0", "false", "no"])
def test_the_documented_boolean_values_are_accepted(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TOLLHOUSE_SEED_DEMO", value)
    assert load_settings().seed_demo is (value in ("1", "true", "yes"))


def test_a_misspelt_variable_is_reported_with_the_nearest_known_name() -> None:
    environ = {
        "TOLLHOUSE_ACESS_TOKEN_TTL": "300",
        "TOLLHOUSE_SESION_IDLE_TTL": "60",
        "TOLLHOUSE_REDIS_URL": "redis://127.0.0.1:6379/0",
        "tollhouse_datadir": "/srv/idp",
        "TOLLHOUSE_FROBNICATE": "1",
        "PATH": "/usr/bin",
    }

    assert unknown_variables(environ) == [
        ("TOLLHOUSE_ACESS_TOKEN_TTL", "TOLLHOUSE_ACCESS_TOKEN_TTL"),
        ("TOLLHOUSE_FROBNICATE", None),
        ("TOLLHOUSE_REDIS_URL", "TOLLHOUSE_REDIS"),
        ("TOLLHOUSE_SESION_IDLE_TTL", "TOLLHOUSE_SESSION_IDLE_TTL"),
        ("tollhouse_datadir", "TOLLHOUSE_DATA_DIR"),
    ]


def test_variables_read_outside_the_settings_are_known() -> None:
    environ = {
        name: "x"
        for name in (
            "TOLLHOUSE_MASTER_KEY",
            "TOLLHOUSE_NEW_MASTER_KEY",
            "TOLLHOUSE_DATA_DIR",
            "tollhouse_access_token_ttl",  # pydantic-settings reads names in any case
            "TOLLHOUSE_TEST_FAST_HASH",
            "TOLLHOUSE_TEST_POSTGRES",
            "TOLLHOUSE_BENCH_REDIS",
            "TOLLHOUSE_GATEWAY_CLIENT_SECRET",
            "TOLLHOUSE_CHROMIUM",
        )
    }

    assert unknown_variables(environ) == []
    assert {f"TOLLHOUSE_{name.upper()}" for name in Settings.model_fields} <= known_variables()


@pytest.mark.parametrize(
    ("value", "per_address", "per_account"),
    [("off", 0, 0), ("3/min", 3, 50), ("10/15min", 10, 50)],
)
def test_the_earlier_login_limit_still_configures_the_lockout(
    monkeypatch: pytest.MonkeyPatch, value: str, per_address: int, per_account: int
) -> None:
    """Configurations written for TOLLHOUSE_RATE_LIMIT_LOGIN (one count per account) keep
    their meaning: ``off`` turns account lockout off, ``N/PERIOD`` locks an address
    after N failures; the account-wide threshold stays."""
    monkeypatch.setenv("TOLLHOUSE_RATE_LIMIT_LOGIN", value)
    settings = load_settings()
    assert settings.login_lockout_per_address == per_address
    assert settings.login_lockout_per_account == per_account
    assert unknown_variables(os.environ) == []


def test_explicit_lockout_settings_win_over_the_earlier_login_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOLLHOUSE_RATE_LIMIT_LOGIN", "off")
    monkeypatch.setenv("TOLLHOUSE_LOGIN_LOCKOUT_PER_ADDRESS", "7")
    settings = load_settings()
    assert (settings.login_lockout_per_address, settings.login_lockout_per_account) == (7, 0)


def test_a_malformed_earlier_login_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLHOUSE_RATE_LIMIT_LOGIN", "lots")
    with pytest.raises(ConfigError, match="TOLLHOUSE_RATE_LIMIT_LOGIN"):
        load_settings()


@pytest.mark.parametrize("value", ["off", "OFF", "Off"])
def test_access_log_off_is_the_switch_not_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOLLHOUSE_ACCESS_LOG", value)
    assert load_settings().access_log == "off"
    assert load_settings(access_log="off").access_log == "off"


def test_a_file_named_off_is_written_as_dot_slash_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOLLHOUSE_ACCESS_LOG", "./off")
    assert load_settings().access_log == Path("off")
