"""RFC 9449 §8 server nonces: stateless, shared by every instance with the same key,
accepted for the current and the previous period only."""

from __future__ import annotations

import pytest

from tollhouse.clock import FrozenClock
from tollhouse.errors import InvalidRequest, UseDpopNonce
from tollhouse.protocol.dpop import NONCE_PERIOD, NonceSource
from tollhouse.protocol.dpop_context import checked_jkt

KEY = b"k" * 32


def test_a_nonce_from_one_instance_is_good_at_another() -> None:
    clock = FrozenClock(1_000_000)
    assert NonceSource(KEY, clock).accepts(NonceSource(KEY, clock).current())


def test_a_nonce_lives_one_period_more_then_expires() -> None:
    clock = FrozenClock(1_000_000)
    source = NonceSource(KEY, clock)
    nonce = source.current()
    clock.advance(NONCE_PERIOD)
    assert source.accepts(nonce)
    clock.advance(NONCE_PERIOD)
    assert not source.accepts(nonce)


def test_another_key_makes_other_nonces() -> None:
    clock = FrozenClock(1_000_000)
    assert not NonceSource(b"x" * 32, clock).accepts(NonceSource(KEY, clock).current())


def test_the_checker_demands_a_current_nonce() -> None:
    source = NonceSource(KEY, FrozenClock(1_000_000))
    check = source.checker()
    check(source.current())
    for bad in (None, "", "forged"):
        with pytest.raises(UseDpopNonce) as refused:
            check(bad)
        assert refused.value.nonce == source.current()


@pytest.mark.parametrize("value", ["short", "a" * 44, "a" * 42 + "=", "a" * 42 + "+"])
def test_dpop_jkt_must_be_a_thumbprint(value: str) -> None:
    with pytest.raises(InvalidRequest):
        checked_jkt(value)
    assert checked_jkt("a" * 43) == "a" * 43
