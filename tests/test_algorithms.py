"""The one list of signing algorithms, and the places that must agree with it."""

from __future__ import annotations

import typing

import pytest

from tollhouse.algorithms import SIGNING_ALGS, SigningAlg
from tollhouse.config import Settings, load_settings
from tollhouse.errors import ConfigError
from tollhouse.resource.jwk import SUPPORTED_ALGS


def test_es256_rs256_and_eddsa_are_the_algorithms_es256_first() -> None:
    assert SIGNING_ALGS == ("ES256", "RS256", "EdDSA")


def test_settings_accept_exactly_the_listed_algorithms() -> None:
    assert Settings.model_fields["signing_alg"].annotation == SigningAlg
    assert typing.get_args(SigningAlg) == SIGNING_ALGS
    for alg in SIGNING_ALGS:
        assert load_settings(signing_alg=alg).signing_alg == alg
    with pytest.raises(ConfigError, match="signing_alg"):
        load_settings(signing_alg="HS256")


def test_the_resource_library_verifies_what_the_provider_signs() -> None:
    assert SUPPORTED_ALGS is SIGNING_ALGS
