"""Unsafe-but-valid settings are warnings, printed by ``serve`` and ``doctor``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tollhouse.config import Settings
from tollhouse.diagnostics.config_checks import check_settings, invalid_settings, startup_warnings
from tollhouse.diagnostics.findings import Level, exit_code

MakeSettings = Callable[..., Settings]


def test_default_settings_give_no_warning(make_settings: MakeSettings) -> None:
    found = check_settings(make_settings())
    assert [f.level for f in found] == [Level.OK]
    assert startup_warnings(make_settings()) == []


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"access_token_ttl": 3600}, "access tokens live 3600 s"),
        ({"refresh_token_ttl": 90 * 86400}, "refresh tokens stay valid unused for 90 days"),
        ({"refresh_token_absolute_ttl": 365 * 86400}, "family lives 365 days"),
        ({"refresh_grace_period": 10}, "grace period is 10 s"),
        ({"session_ttl": 7 * 86400}, "browser sessions last 168 h"),
        ({"insecure_http": True}, "plain HTTP development mode"),
        ({"seed_demo": True}, "--seed-demo"),
        ({"workers": 4}, "4 workers without --redis"),
        ({"registration": "open"}, "registration is open"),
        ({"rate_limit_token": "off"}, "rate limiting of /token is off"),
        (
            {"login_lockout_per_address": 0, "login_lockout_per_account": 0},
            "the sign-in lockout is off",
        ),
        ({"metrics_public": True, "host": "0.0.0.0"}, "/metrics answers every caller"),
        ({"host": "0.0.0.0"}, "no issuer set"),
        ({"redis": "redis://10.0.0.5:6379/0"}, "without TLS"),
        ({"issuer": "https://idp.example.test"}, "the issuer host is idp.example.test"),
    ],
)
def test_each_unsafe_setting_is_one_warning_with_a_fix(
    make_settings: MakeSettings, overrides: dict[str, object], words: str
) -> None:
    warnings = startup_warnings(make_settings(**overrides))
    matching = [f for f in warnings if words in f.what]
    assert len(matching) == 1, warnings
    assert matching[0].level is Level.WARNING
    assert matching[0].fix
    assert exit_code(warnings) == 0  # warnings never fail doctor
    assert "\n" not in matching[0].line()


def test_redis_shared_by_workers_is_not_flagged(make_settings: MakeSettings) -> None:
    assert startup_warnings(make_settings(workers=4, redis="redis://127.0.0.1:6379/0")) == []


def test_settings_that_cannot_start_are_an_error() -> None:
    finding = invalid_settings("invalid access_token_ttl: must be between 1 and 3600 seconds")
    assert finding.level is Level.ERROR
    assert exit_code([finding]) == 1


def test_a_variable_nothing_reads_is_a_warning_naming_the_nearest_one(
    make_settings: MakeSettings,
) -> None:
    environ = {"TOLLHOUSE_ACESS_TOKEN_TTL": "300", "TOLLHOUSE_TEST_FAST_HASH": "1"}

    found = check_settings(make_settings(), environ)

    assert [(f.level, f.check) for f in found] == [(Level.WARNING, "config")]
    assert found[0].what == "TOLLHOUSE_ACESS_TOKEN_TTL is not a Tollhouse variable and is ignored"
    assert found[0].fix == "did you mean TOLLHOUSE_ACCESS_TOKEN_TTL?"
    assert exit_code(found) == 0
