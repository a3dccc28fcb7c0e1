"""RevocationFeed against a fake issuer: signed pages, cursors, and refusal of forgeries."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.resource.conftest import AUDIENCE, FakeIssuer
from tollhouse.resource import RevocationFeed, RevocationUnavailable, TokenError, TokenValidator


@pytest.fixture
def feed(issuer: FakeIssuer) -> Iterator[RevocationFeed]:
    f = RevocationFeed(issuer.url, *issuer.feed_credentials, interval=0.1)
    yield f
    f.stop()


def entry(jti: str) -> dict[str, object]:
    return {"jti": jti, "exp": int(time.time()) + 300}


def test_first_poll_reads_everything_then_follows_the_cursor(
    issuer: FakeIssuer, feed: RevocationFeed
) -> None:
    issuer.revoked = [entry("a"), entry("b")]
    assert feed.start()
    assert feed.is_revoked("a") and feed.is_revoked("b")
    assert not feed.is_revoked("c")
    issuer.revoked.append(entry("c"))
    deadline = time.monotonic() + 3
    while not feed.is_revoked("c"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert issuer.feed_cursors[0] is None
    assert "2" in issuer.feed_cursors


def test_a_revoked_token_is_refused_within_an_interval(
    issuer: FakeIssuer, feed: RevocationFeed
) -> None:
    validator = TokenValidator(issuer.url, AUDIENCE, revocation=feed)
    try:
        token = issuer.mint(jti="victim")
        validator.validate(token)
        issuer.revoked.append(entry("victim"))
        deadline = time.monotonic() + 3
        while True:
            try:
                validator.validate(token)
            except TokenError as error:
                assert error.description == "The access token was revoked."
                break
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        validator.close()


@pytest.mark.parametrize("mode", ["bad_sig", "bad_typ", "bad_iss", "unknown_kid", "old"])
def test_forged_or_stale_pages_are_refused(
    issuer: FakeIssuer, feed: RevocationFeed, mode: str
) -> None:
    issuer.revoked = [entry("a")]
    assert feed.poll()
    issuer.revoked.append(entry("b"))
    issuer.feed_mode = mode
    assert not feed.poll()
    assert feed.last_error
    assert feed.is_revoked("a") and not feed.is_revoked("b")  # kept what it knew


def test_wrong_credentials_are_reported(issuer: FakeIssuer) -> None:
    feed = RevocationFeed(issuer.url, "rs-client", "wrong", interval=60)
    try:
        assert not feed.start()
        assert "401" in str(feed.last_error)
        with pytest.raises(RevocationUnavailable):
            feed.is_revoked("a")  # never read: does not pretend "not revoked"
    finally:
        feed.stop()


def test_missing_endpoint_is_reported(issuer: FakeIssuer) -> None:
    issuer.extra_metadata = {"revocation_feed_endpoint": None}
    feed = RevocationFeed(issuer.url, *issuer.feed_credentials, interval=60)
    try:
        assert not feed.start()
        assert "revocation_feed_endpoint" in str(feed.last_error)
    finally:
        feed.stop()


def test_max_staleness_fails_closed(issuer: FakeIssuer) -> None:
    feed = RevocationFeed(issuer.url, *issuer.feed_credentials, interval=0.05, max_staleness=0.3)
    try:
        assert feed.start()
        assert not feed.is_revoked("x")
        issuer.down = True
        time.sleep(0.5)
        with pytest.raises(RevocationUnavailable, match="stale"):
            feed.is_revoked("x")
    finally:
        feed.stop()


def test_expired_entries_are_pruned(issuer: FakeIssuer, feed: RevocationFeed) -> None:
    issuer.revoked = [{"jti": "old", "exp": int(time.time()) - 3600}, entry("new")]
    assert feed.poll()
    assert len(feed) == 1
    assert feed.is_revoked("new")
