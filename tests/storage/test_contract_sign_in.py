"""The storage contract for how the user signed in (``amr``, ``acr``): kept on the
session, on the authorization code and on the refresh token family, so that every ID
Token of an authorization — at the code exchange and at each refresh — states the
original authentication (OIDC Core §12.2).

Like ``test_contract``, each test runs on memory, a SQLite file and PostgreSQL.
"""

from __future__ import annotations

from tests.storage import records as make
from tests.storage.records import NOW
from tollhouse.storage.ports import IssuedByCode, Storage


async def with_client_and_user(storage: Storage) -> None:
    await storage.add_client(make.client())
    await storage.add_user(make.user())


async def test_code_keeps_amr_and_acr(storage: Storage) -> None:
    await with_client_and_user(storage)
    asserted = make.code("asserted", amr=("pwd", "otp"), acr="urn:example:mfa")
    plain = make.code("plain")
    await storage.add_code(asserted)
    await storage.add_code(plain)
    assert await storage.get_code("asserted") == asserted
    stored = await storage.get_code("plain")
    assert stored == plain and stored.amr == () and stored.acr is None


async def test_consumed_code_returns_amr_and_acr(storage: Storage) -> None:
    await with_client_and_user(storage)
    await storage.add_code(make.code(amr=("pwd", "otp"), acr="urn:example:mfa"))
    consumed = await storage.consume_code("code-hash-1", NOW + 1)
    assert consumed is not None
    assert (consumed.amr, consumed.acr) == (("pwd", "otp"), "urn:example:mfa")


async def test_family_keeps_amr_and_acr(storage: Storage) -> None:
    await storage.add_client(make.client())
    asserted = make.family("asserted", amr=("pwd", "otp"), acr="urn:example:mfa")
    plain = make.family("plain")
    await storage.add_family(asserted)
    await storage.add_family(plain)
    assert await storage.get_family("asserted") == asserted
    stored = await storage.get_family("plain")
    assert stored == plain and stored.amr == () and stored.acr is None


async def test_family_recorded_with_the_code_keeps_amr_and_acr(storage: Storage) -> None:
    await with_client_and_user(storage)
    await storage.add_code(make.code(amr=("pwd", "otp")))
    family = make.family(amr=("pwd", "otp"), acr="urn:example:mfa")
    issued = IssuedByCode("jti-first", NOW + 901, family=family, first_token=make.refresh_token())
    assert await storage.consume_code("code-hash-1", NOW + 1, issued) is not None
    assert await storage.get_family("family-1") == family


async def test_session_keeps_acr(storage: Storage) -> None:
    await storage.add_user(make.user())
    asserted = make.session("asserted", sid="sid-1", amr=("pwd", "otp"), acr="urn:example:mfa")
    plain = make.session("plain", sid="sid-2")
    await storage.add_session(asserted)
    await storage.add_session(plain)
    assert await storage.get_session("asserted") == asserted
    stored = await storage.get_session("plain")
    assert stored == plain and stored.acr is None
