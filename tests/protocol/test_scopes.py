from __future__ import annotations

import pytest

from tollhouse.errors import InvalidScope, InvalidTarget
from tollhouse.models import Api, AuthMethod, Client
from tollhouse.protocol import scopes

ISSUER = "https://idp.test"
APIS = [
    Api("https://sensors.test", ("read_sensors", "write_sensors"), 0),
    Api("https://billing.test", ("read_billing",), 0),
]


def client(allowed: tuple[str, ...] | None = None) -> Client:
    return Client(
        "c",
        "C",
        ("https://c.test/cb",),
        ("authorization_code",),
        AuthMethod.CLIENT_SECRET_BASIC,
        0,
        "h",
        allowed,
    )


def test_parse_keeps_order_and_drops_duplicates() -> None:
    assert scopes.parse("b a  b") == ("b", "a")


@pytest.mark.parametrize("bad", ['a"b', "a\\b", "é"])
def test_parse_refuses_forbidden_characters(bad: str) -> None:
    with pytest.raises(InvalidScope):
        scopes.parse(bad)


def test_audience_is_the_api_owning_the_scopes() -> None:
    grant = scopes.resolve(("read_sensors",), None, APIS, client=client(), issuer=ISSUER)
    assert grant.audience == "https://sensors.test"


def test_audience_is_the_resource_parameter() -> None:
    grant = scopes.resolve((), "https://billing.test", APIS, client=client(), issuer=ISSUER)
    assert grant.audience == "https://billing.test"


def test_audience_defaults_to_the_issuer() -> None:
    assert scopes.resolve((), None, APIS, client=client(), issuer=ISSUER).audience == ISSUER


def test_unknown_resource_is_invalid_target() -> None:
    with pytest.raises(InvalidTarget):
        scopes.resolve((), "https://unknown.test", APIS, client=client(), issuer=ISSUER)


def test_resource_with_fragment_is_invalid_target() -> None:
    with pytest.raises(InvalidTarget):
        scopes.resolve((), "https://sensors.test#x", APIS, client=client(), issuer=ISSUER)


def test_scopes_of_two_apis_are_invalid_target() -> None:
    with pytest.raises(InvalidTarget):
        scopes.resolve(("read_sensors", "read_billing"), None, APIS, client=client(), issuer=ISSUER)


def test_scope_of_another_api_than_the_resource_is_invalid_scope() -> None:
    with pytest.raises(InvalidScope):
        scopes.resolve(
            ("read_billing",), "https://sensors.test", APIS, client=client(), issuer=ISSUER
        )


def test_unknown_scope_is_invalid_scope() -> None:
    with pytest.raises(InvalidScope):
        scopes.resolve(("admin",), None, APIS, client=client(), issuer=ISSUER)


def test_client_may_only_request_its_registered_scopes() -> None:
    with pytest.raises(InvalidScope):
        scopes.resolve(
            ("write_sensors",), None, APIS, client=client(("read_sensors",)), issuer=ISSUER
        )


def test_default_client_scopes_narrow_clients_registered_without_scope() -> None:
    with pytest.raises(InvalidScope):
        scopes.resolve(
            ("write_sensors",),
            None,
            APIS,
            client=client(),
            issuer=ISSUER,
            default_client_scopes=("read_sensors",),
        )


@pytest.mark.parametrize("scope", ["admin\n", "read\u00a0admin", "read\tadmin", "admin\r\n", "é"])
def test_scope_tokens_are_matched_whole_and_split_on_spaces_only(scope: str) -> None:
    """RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by %x20.
    A trailing newline is part of the token (a "$" anchor would let it through)."""
    with pytest.raises(InvalidScope):
        scopes.parse(scope)
    with pytest.raises(ValueError):
        scopes.check_scope_name(scope)


def test_scope_separators_are_spaces() -> None:
    assert scopes.parse(" read  admin ") == ("read", "admin")
