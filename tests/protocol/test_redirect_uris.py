from __future__ import annotations

import pytest

from tollhouse.errors import InvalidRedirectUri, InvalidRedirectUriMetadata
from tollhouse.protocol.redirect_uris import check_registrable, select

REGISTERED = ("https://app.example.test/cb", "http://127.0.0.1:9000/callback")


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.test/cb",
        "http://127.0.0.1:9000/callback",
        "http://[::1]:8080/cb",
        "https://a.test/cb?x=1",
    ],
)
def test_registrable_uris(uri: str) -> None:
    assert check_registrable(uri) == uri


@pytest.mark.parametrize(
    "uri",
    [
        "http://app.example.test/cb",  # plain http off loopback
        "https://app.example.test/cb#frag",  # fragment
        "/relative/cb",
        "app.example.test/cb",
        "http://localhost:9000/cb",  # RFC 8252 §8.3: use the IP literal
        "javascript:alert(1)",
        "https://user:pw@app.example.test/cb",
        "https://app.example.test/c b",
        "ftp://app.example.test/cb",
    ],
)
def test_unregistrable_uris(uri: str) -> None:
    with pytest.raises(InvalidRedirectUriMetadata):
        check_registrable(uri)


def test_redirect_uri_exact_match() -> None:
    assert select(REGISTERED, "https://app.example.test/cb") == "https://app.example.test/cb"


@pytest.mark.parametrize(
    "sent",
    [
        "https://app.example.test/cb/",  # trailing slash
        "https://APP.example.test/cb",  # host case
        "HTTPS://app.example.test/cb",  # scheme case
        "https://app.example.test/CB",  # path case
        "https://app.example.test/cb?x=1",  # extra query
        "https://app.example.test:443/cb",  # explicit default port
        "https://app.example.test/cb#",
        "http://127.0.0.1:9001/callback",  # other loopback port
        "https://app.example.test/cb/../cb",
    ],
)
def test_redirect_uri_variants_do_not_match(sent: str) -> None:
    with pytest.raises(InvalidRedirectUri):
        select(REGISTERED, sent)


def test_missing_redirect_uri_uses_the_only_registered_one() -> None:
    assert select(("https://a.test/cb",), None) == "https://a.test/cb"


def test_missing_redirect_uri_with_several_registered_is_refused() -> None:
    with pytest.raises(InvalidRedirectUri):
        select(REGISTERED, None)
