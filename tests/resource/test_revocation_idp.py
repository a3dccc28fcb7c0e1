"""Revocation reaching a resource server from a real IdP: the signed feed and introspection.

These run when the IdP's discovery lists ``revocation_feed_endpoint`` /
``introspection_endpoint`` and skip otherwise (the endpoints land separately).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.e2e.conftest import SENSORS, Server
from tests.resource.conftest import discovery, issue_token
from tollhouse.resource import IntrospectionRevocation, RevocationFeed, TokenError, TokenValidator


def require_endpoint(server: Server, name: str) -> None:
    if name not in discovery(server):
        pytest.skip(f"the IdP's discovery does not list {name} yet")


def revoke_at_idp(server: Server, token: str) -> None:
    """RFC 7009 revocation by the client the token was issued to."""
    with server.client() as http:
        response = http.post(
            "/revoke",
            data={"token": token, "token_type_hint": "access_token"},
            auth=(server.seed.confidential_id, server.seed.confidential_secret),
        )
    assert response.status_code == 200, response.text


def refused_within(validate: Callable[[], object], seconds: float) -> float:
    started = time.monotonic()
    while True:
        try:
            validate()
        except TokenError as error:
            assert error.error == "invalid_token"
            assert error.description == "The access token was revoked."
            return time.monotonic() - started
        assert time.monotonic() - started < seconds, "still accepted"
        time.sleep(0.05)


def test_feed_makes_a_revocation_at_the_idp_reach_the_api_within_seconds(idp: Server) -> None:
    require_endpoint(idp, "revocation_feed_endpoint")
    seed = idp.seed
    feed = RevocationFeed(idp.base_url, seed.confidential_id, seed.confidential_secret, interval=1)
    validator = TokenValidator(idp.base_url, SENSORS, revocation=feed)
    try:
        assert feed.start(), feed.last_error
        token = issue_token(idp)
        other = issue_token(idp)
        validator.validate(token, ["read_sensors"])
        revoke_at_idp(idp, token)
        refused_within(lambda: validator.validate(token), 5)  # polled every second
        validator.validate(other)  # only the revoked one
        assert feed.polls >= 1 and feed.last_error is None
    finally:
        feed.stop()
        validator.close()


def test_feed_refuses_unauthenticated_readers(idp: Server) -> None:
    require_endpoint(idp, "revocation_feed_endpoint")
    feed = RevocationFeed(idp.base_url, idp.seed.confidential_id, "wrong-secret", interval=60)
    try:
        assert not feed.start()
        assert "401" in str(feed.last_error)
    finally:
        feed.stop()


def test_introspection_refuses_a_revoked_token_after_its_cache_period(idp: Server) -> None:
    require_endpoint(idp, "introspection_endpoint")
    seed = idp.seed
    introspection = IntrospectionRevocation(
        idp.base_url, seed.confidential_id, seed.confidential_secret, cache_ttl=0.5
    )
    validator = TokenValidator(idp.base_url, SENSORS, revocation=introspection)
    try:
        token = issue_token(idp)
        validator.validate(token)
        validator.validate(token)
        assert introspection.calls == 1  # the answer is cached
        revoke_at_idp(idp, token)
        refused_within(lambda: validator.validate(token), 3)  # answers cached 0.5 s
        assert introspection.is_revoked(validator.validate(issue_token(idp))["jti"]) is False
    finally:
        introspection.close()
        validator.close()


def test_introspection_with_wrong_credentials_fails_closed(idp: Server) -> None:
    require_endpoint(idp, "introspection_endpoint")
    introspection = IntrospectionRevocation(idp.base_url, idp.seed.confidential_id, "nope")
    validator = TokenValidator(idp.base_url, SENSORS, revocation=introspection)
    try:
        with pytest.raises(TokenError, match="revocation status"):
            validator.validate(issue_token(idp))
    finally:
        introspection.close()
        validator.close()
