"""Second factors in the protocol core: the policy (never lowered by the request),
secrets bound to their user, codes used once, re-sealing under a new master key."""

from __future__ import annotations

import base64
import dataclasses
import os

import pytest

from tests.storage import records as make
from tollhouse.clock import FrozenClock
from tollhouse.models import Client
from tollhouse.protocol import totp
from tollhouse.protocol.mfa import (
    MFA_ACR,
    PHR_ACR,
    SecondFactors,
    may_change_factors,
    mfa_required,
    parse_acr_values,
    passkey_required,
    satisfies,
)
from tollhouse.security.secretbox import SecretBox
from tollhouse.storage.memory import MemoryStorage

NOW = 1_765_000_000


def client(*, require_mfa: bool = False) -> Client:
    return make.client(require_mfa=require_mfa)


@pytest.mark.parametrize(
    ("policy", "strict", "acr_values", "expected"),
    [
        ("optional", False, (), False),
        ("optional", False, (MFA_ACR,), True),
        ("optional", True, (), True),
        ("optional", True, ("urn:tollhouse:pwd",), True),
        ("required", False, ("urn:tollhouse:pwd",), True),
        ("off", True, (MFA_ACR,), False),
    ],
)
def test_the_request_only_raises_the_level(
    policy: str, strict: bool, acr_values: tuple[str, ...], expected: bool
) -> None:
    assert mfa_required(policy, client(require_mfa=strict), acr_values) is expected  # type: ignore[arg-type]


def test_a_passkey_level_is_a_floor_too() -> None:
    assert passkey_required("optional", client(), (PHR_ACR,))
    assert passkey_required("optional", make.client(require_passkey=True), (MFA_ACR,))
    assert not passkey_required("optional", client(), (MFA_ACR,))
    assert not passkey_required("off", make.client(require_passkey=True), (PHR_ACR,))
    assert mfa_required("optional", make.client(require_passkey=True), ())


def test_phr_meets_mfa_and_a_code_does_not_meet_phr() -> None:
    assert satisfies(PHR_ACR, MFA_ACR) and satisfies(PHR_ACR, PHR_ACR)
    assert satisfies(MFA_ACR, MFA_ACR) and not satisfies(MFA_ACR, PHR_ACR)
    assert not satisfies(None, MFA_ACR) and satisfies(None, "")
    assert not satisfies("urn:other", PHR_ACR)
    assert may_change_factors(True, PHR_ACR)


def test_acr_values_are_parsed_deduplicated_and_bounded() -> None:
    assert parse_acr_values(None) == ()
    assert parse_acr_values(f" {MFA_ACR}  {MFA_ACR} x") == (MFA_ACR, "x")
    assert len(parse_acr_values(" ".join(f"v{i}" for i in range(50)))) == 8


def test_changing_a_factor_needs_a_session_that_passed_it() -> None:
    assert may_change_factors(False, None)
    assert not may_change_factors(True, None)
    assert may_change_factors(True, MFA_ACR)


async def factors_with_alice() -> tuple[SecondFactors, MemoryStorage, SecretBox, FrozenClock]:
    storage = MemoryStorage()
    await storage.add_user(make.user())
    await storage.add_user(make.user("bob"))
    box, clock = SecretBox(os.urandom(32)), FrozenClock(NOW)
    return (
        SecondFactors(store=storage, sealer=box, clock=clock, issuer_name="idp"),
        storage,
        box,
        clock,
    )


async def test_a_code_works_once_and_a_sealed_secret_only_for_its_user() -> None:
    factors, storage, _, clock = await factors_with_alice()
    made = await factors.enroll("sub-alice", "alice", confirmed=True, by="operator")
    secret = base32_decode(made.secret)
    code = totp.code_at(secret, totp.step_of(NOW))
    assert await factors.verify("sub-alice", code) == "totp"
    assert await factors.verify("sub-alice", code) is None
    clock.advance(30)
    assert await factors.verify("sub-alice", totp.code_at(secret, totp.step_of(NOW))) is None

    # Alice's sealed secret copied onto Bob's row does not open there.
    alice = await storage.get_totp("sub-alice")
    assert alice is not None
    await storage.put_totp(dataclasses.replace(alice, user_id="sub-bob", last_step=None))
    later = totp.code_at(secret, totp.step_of(NOW + 30))
    assert await factors.verify("sub-bob", later) is None


async def test_a_pending_authenticator_signs_in_only_after_its_first_code() -> None:
    factors, _, _, clock = await factors_with_alice()
    made = await factors.enroll("sub-alice", "alice", confirmed=False, by="user")
    secret = base32_decode(made.secret)
    assert not await factors.has_factor("sub-alice")
    assert await factors.pending("sub-alice", "alice") == made
    assert await factors.verify("sub-alice", totp.code_at(secret, totp.step_of(NOW))) is None
    assert await factors.confirm("sub-alice", totp.code_at(secret, totp.step_of(NOW)), by="user")
    assert await factors.has_factor("sub-alice")
    # The confirming code is used: it does not sign in again.
    assert await factors.verify("sub-alice", totp.code_at(secret, totp.step_of(NOW))) is None
    clock.advance(30)
    assert await factors.verify("sub-alice", totp.code_at(secret, totp.step_of(NOW + 30)))


async def test_reseal_moves_secrets_to_a_new_master_key() -> None:
    factors, storage, old, clock = await factors_with_alice()
    made = await factors.enroll("sub-alice", "alice", confirmed=True, by="operator")
    new = SecretBox(os.urandom(32))
    moved = SecondFactors(store=storage, sealer=new, clock=clock, issuer_name="idp")
    assert await moved.reseal(old) == 1
    assert await moved.reseal(old) == 0  # already under the new key
    code = totp.code_at(base32_decode(made.secret), totp.step_of(NOW))
    assert await factors.verify("sub-alice", code) is None  # the old key opens nothing
    assert await moved.verify("sub-alice", code) == "totp"


def base32_decode(text: str) -> bytes:
    return base64.b32decode(text + "=" * (-len(text) % 8))
