"""The nearest registered redirect URI and the named difference (development mode only)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tollhouse.clock import FrozenClock
from tollhouse.models import AuthMethod, Client, GrantType
from tollhouse.protocol.api_index import ApiIndexCache
from tollhouse.protocol.endpoints.authorize import AuthorizeEndpoint, ErrorPage
from tollhouse.protocol.redirect_hints import differences, nearest
from tollhouse.storage.memory import MemoryStorage

CB = "https://app.example.test/cb"


@pytest.mark.parametrize(
    ("sent", "registered", "named"),
    [
        ("https://app.example.test/cb/", CB, "trailing slash differs"),
        ("https://app.example.test:8443/cb", CB, "port differs (8443 sent, none registered)"),
        ("http://app.example.test/cb", CB, "scheme differs (http sent, https registered)"),
        ("https://App.Example.test/cb", CB, "host case differs"),
        ("https://app.example.test/cb?x=1", CB, "query differs"),
        ("https://app.example.test/cb?b=2&a=1", CB + "?a=1&b=2", "query parameter order differs"),
        ("https://app.example.test:443/cb", CB, "port differs (the default port"),
        ("https://app.example.test/CB", CB, "path case differs"),
        ("https://app.example.test/c%62", CB, "percent-encoding differs"),
        ("https://app.example.test/cb#x", CB, "fragment present"),
        (" https://app.example.test/cb", CB, "whitespace around the URI differs"),
        (
            "http://localhost:9000/cb",
            "http://127.0.0.1:9000/cb",
            "host differs (localhost sent, 127.0.0.1 registered; both are loopback)",
        ),
    ],
)
def test_each_kind_of_difference_is_spelled_out(sent: str, registered: str, named: str) -> None:
    found = differences(sent, registered)
    assert any(d.startswith(named) for d in found), found


def test_only_the_real_difference_is_named() -> None:
    assert differences("https://app.example.test/cb/", CB) == ("trailing slash differs",)


def test_nearest_prefers_a_cosmetic_difference_over_a_substantive_one() -> None:
    registered = ["https://other.example.test/cb", CB, "https://app.example.test/callback"]
    hint = nearest("https://app.example.test/cb/", registered)
    assert hint is not None
    assert hint.nearest == CB
    assert hint.message() == (
        "Nearest registered redirect URI: https://app.example.test/cb (trailing slash differs)."
    )


def test_no_hint_without_registered_uris_or_for_a_registered_one() -> None:
    assert nearest(CB, []) is None
    assert nearest(CB, [CB]) is None
    assert nearest("x" * 5000, [CB]) is None


@settings(max_examples=200, deadline=None)
@given(sent=st.text(max_size=200), registered=st.lists(st.text(max_size=80), max_size=4))
def test_any_input_gives_a_registered_uri_or_nothing(sent: str, registered: list[str]) -> None:
    hint = nearest(sent, registered)
    assert hint is None or hint.nearest in registered


async def _endpoint(show: bool) -> AuthorizeEndpoint:
    storage = MemoryStorage()
    await storage.add_client(
        Client(
            "app",
            "App",
            (CB,),
            (GrantType.AUTHORIZATION_CODE,),
            AuthMethod.NONE,
            1_800_000_000,
        )
    )
    return AuthorizeEndpoint(
        clients=storage,
        api_index=ApiIndexCache(storage),
        codes=storage,
        consents=storage,
        clock=FrozenClock(),
        issuer="https://idp.test",
        code_ttl=60,
        show_registered_redirect_uris=show,
    )


async def test_mismatch_page_names_the_nearest_match_in_development_mode() -> None:
    endpoint = await _endpoint(show=True)
    outcome = await endpoint.handle(
        {"client_id": "app", "redirect_uri": CB + "/", "response_type": "code"}, None
    )
    assert isinstance(outcome, ErrorPage)
    assert outcome.registered_redirect_uris == (CB,)
    assert outcome.hint is not None and "trailing slash differs" in outcome.hint


async def test_mismatch_page_never_hints_outside_development_mode() -> None:
    endpoint = await _endpoint(show=False)
    outcome = await endpoint.handle(
        {"client_id": "app", "redirect_uri": CB + "/", "response_type": "code"}, None
    )
    assert isinstance(outcome, ErrorPage)
    assert outcome.registered_redirect_uris is None
    assert outcome.hint is None
