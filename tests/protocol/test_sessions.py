"""SSO session rules (protocol/sessions.py), on the memory store with a frozen clock:
idle and absolute expiry, the ``sid`` kept across sign-ins of one user, another user
ending the session, and the logout notifications an ending sends."""

from __future__ import annotations

import dataclasses

from tests.protocol.conftest import World
from tollhouse.models import RegistrationAccessToken, User
from tollhouse.protocol.sessions import TOUCH_EVERY, Established
from tollhouse.randomness import fingerprint

IDLE = 3600
ABSOLUTE = 8 * 3600


async def sign_in(
    world: World, user_id: str = "alice-id", cookie: str | None = None
) -> Established:
    return await world.provider.sessions.establish(cookie, user_id, ("pwd",))


async def with_backchannel(world: World) -> None:
    client = await world.storage.get_client("web")
    assert client is not None
    await world.storage.update_client(
        dataclasses.replace(client, backchannel_logout_uri="https://app.test/bcl")
    )


async def test_establish_sets_a_fresh_cookie_and_stores_only_its_fingerprint(world: World) -> None:
    established = await sign_in(world)
    assert established.cookie.max_age == ABSOLUTE
    stored = await world.storage.get_session(fingerprint(established.cookie.value))
    assert stored is not None and stored.user_id == "alice-id" and stored.sid
    assert established.signed_in.session_hash == stored.session_hash
    assert established.signed_in.sid == stored.sid
    assert established.signed_in.auth_time == world.clock.now()


async def test_remember_false_gives_a_cookie_that_ends_with_the_browser(world: World) -> None:
    established = await world.provider.sessions.establish(None, "alice-id", (), remember=False)
    assert established.cookie.max_age is None


async def test_amr_of_the_sign_in_is_kept_on_the_session(world: World) -> None:
    sessions = world.provider.sessions
    established = await sessions.establish(None, "alice-id", ("pwd", "otp"))
    assert established.signed_in.amr == ("pwd", "otp")
    again = await sessions.signed_in(established.cookie.value)
    assert again is not None and again.amr == ("pwd", "otp")


async def test_unknown_missing_or_oversized_cookie_is_no_session(world: World) -> None:
    sessions = world.provider.sessions
    assert await sessions.current(None) is None
    assert await sessions.current("") is None
    assert await sessions.current("not-a-session") is None
    assert await sessions.current("x" * 129) is None


async def test_session_ends_after_the_idle_timeout(world: World) -> None:
    cookie = (await sign_in(world)).cookie.value
    world.clock.advance(IDLE)
    assert await world.provider.sessions.current(cookie) is not None
    world.clock.advance(IDLE + 1)
    assert await world.provider.sessions.current(cookie) is None


async def test_activity_postpones_the_idle_timeout(world: World) -> None:
    cookie = (await sign_in(world)).cookie.value
    for _ in range(3):
        world.clock.advance(IDLE - 1)
        assert await world.provider.sessions.current(cookie) is not None
    stored = await world.storage.get_session(fingerprint(cookie))
    assert stored is not None and stored.last_active_at == world.clock.now()


async def test_last_activity_is_written_only_every_so_often(world: World) -> None:
    cookie = (await sign_in(world)).cookie.value
    signed_at = world.clock.now()
    world.clock.advance(TOUCH_EVERY - 1)
    await world.provider.sessions.current(cookie)
    stored = await world.storage.get_session(fingerprint(cookie))
    assert stored is not None and stored.last_active_at == signed_at


async def test_session_ends_at_its_absolute_expiry_however_active(world: World) -> None:
    cookie = (await sign_in(world)).cookie.value
    elapsed = 0
    while elapsed + IDLE // 2 < ABSOLUTE:
        world.clock.advance(IDLE // 2)
        elapsed += IDLE // 2
        assert await world.provider.sessions.current(cookie) is not None
    world.clock.advance(ABSOLUTE - elapsed)
    assert await world.provider.sessions.current(cookie) is None


async def test_same_user_signing_in_again_keeps_the_sid_under_a_new_cookie(world: World) -> None:
    first = await sign_in(world)
    sid = first.signed_in.sid
    assert sid is not None
    await world.storage.add_session_client(sid, "web")
    world.clock.advance(10)
    second = await sign_in(world, cookie=first.cookie.value)
    assert second.signed_in.sid == sid
    assert second.cookie.value != first.cookie.value
    # No session fixation: the old cookie no longer signs anyone in.
    assert await world.provider.sessions.current(first.cookie.value) is None
    assert await world.storage.session_clients(sid) == ["web"]
    assert second.signed_in.auth_time == world.clock.now()
    assert world.logouts.sent == []


async def test_another_user_signing_in_ends_the_previous_session(world: World) -> None:
    await with_backchannel(world)
    await world.storage.add_user(User("bob-id", "bob", "x", world.clock.now()))
    alice = await sign_in(world)
    assert alice.signed_in.sid is not None
    await world.storage.add_session_client(alice.signed_in.sid, "web")
    bob = await sign_in(world, "bob-id", cookie=alice.cookie.value)
    assert bob.signed_in.sid != alice.signed_in.sid
    assert await world.provider.sessions.current(alice.cookie.value) is None
    assert await world.storage.get_session_by_sid(alice.signed_in.sid) is None
    [notification] = world.logouts.sent
    assert notification.client_id == "web" and notification.uri == "https://app.test/bcl"


async def test_ending_a_session_notifies_the_clients_that_took_part(world: World) -> None:
    await with_backchannel(world)
    established = await sign_in(world)
    sid = established.signed_in.sid
    assert sid is not None
    await world.storage.add_session_client(sid, "web")
    await world.storage.add_session_client(sid, "spa")  # no back-channel URI: not told
    session = await world.provider.sessions.current(established.cookie.value)
    assert session is not None
    sent = await world.provider.sessions.end(session, "logout")
    assert [n.client_id for n in sent] == ["web"]
    assert world.logouts.sent == sent
    assert await world.provider.sessions.current(established.cookie.value) is None


async def test_ending_a_session_without_clients_sends_nothing(world: World) -> None:
    established = await sign_in(world)
    session = await world.provider.sessions.current(established.cookie.value)
    assert session is not None
    assert await world.provider.sessions.end(session, "logout") == []
    assert world.logouts.sent == []


async def test_only_operator_made_clients_may_have_internal_logout_targets(world: World) -> None:
    """Issue 21: a client holding an RFC 7592 registration access token registered itself
    over HTTP, so its back-channel URI is sent through the outbound guard."""
    await with_backchannel(world)
    established = await sign_in(world)
    sid = established.signed_in.sid
    assert sid is not None
    await world.storage.add_session_client(sid, "web")
    session = await world.provider.sessions.current(established.cookie.value)
    assert session is not None
    [by_operator] = await world.provider.sessions.end(session, "logout")
    assert by_operator.operator_chosen is True

    await world.storage.set_registration_access_token(
        RegistrationAccessToken("web", fingerprint("registration-token"), world.clock.now())
    )
    again = await sign_in(world)
    assert again.signed_in.sid is not None
    await world.storage.add_session_client(again.signed_in.sid, "web")
    session = await world.provider.sessions.current(again.cookie.value)
    assert session is not None
    [self_registered] = await world.provider.sessions.end(session, "logout")
    assert self_registered.operator_chosen is False
