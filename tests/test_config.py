"""Configuration mistakes are named: the accepted values of a refused one, and the
nearest known name of a ``TOLLHOUSE_*`` variable nothing reads."""

from __future__ import annotations

import os
from collections.abc import Iterator

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
