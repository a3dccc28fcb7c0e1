"""The IdP recognises its access tokens with the resource library's validation core.

The agreement tests are the point: the same crafted tokens go to a resource server's
``TokenValidator`` (fetching this IdP's JWKS), to ``/introspect`` (as that resource
server) and to ``tollhouse token inspect``, and all three must reach the same verdict,
naming the same rule where they name one. If the IdP and the library ever restate a
rule differently, one of these fails.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.protocol.conftest import FAST, ISSUER, SECRET, World
from tests.protocol.tokens_helpers import basic, code_tokens, introspect
from tollhouse.clock import FrozenClock
from tollhouse.diagnostics.inspect import inspect_token
from tollhouse.keys import KeyRing, generate
from tollhouse.models import AuthMethod, Client, Revocation
from tollhouse.protocol.token_lookup import ServerKeys, TokenLookup
from tollhouse.protocol.tokens import ACCESS_TOKEN_TYP
from tollhouse.resource import TokenError, TokenValidator
from tollhouse.resource.at_jwt import ACCEPTED_TYP, DEFAULT_LEEWAY
from tollhouse.security.secretbox import SecretBox
from tollhouse.storage.memory import MemoryStorage

API = "https://sensors.test"


def b64json(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


class Revoked:
    """What a resource server's revocation source (the feed, Redis) would tell it."""

    def __init__(self) -> None:
        self.jtis: set[str] = set()

    def is_revoked(self, jti: str) -> bool:
        return jti in self.jtis


@pytest.fixture
def revoked() -> Revoked:
    return Revoked()


@pytest.fixture
def library(world: World, revoked: Revoked) -> Iterator[TokenValidator]:
    """A resource server for ``API`` whose HTTP reaches this IdP's discovery and JWKS."""
    ring = world.provider.keyring

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": ISSUER + "/jwks.json"})
        if request.url.path == "/jwks.json":
            return httpx.Response(200, json=ring.jwks())
        return httpx.Response(404)

    http = httpx.Client(transport=httpx.MockTransport(answer))
    validator = TokenValidator(ISSUER, API, clock=world.clock, revocation=revoked, http_client=http)
    yield validator
    validator.close()
    http.close()


@pytest.fixture
async def resource_server(world: World) -> str:
    """A client registered as the resource server of ``API`` (it may introspect)."""
    await world.storage.add_client(
        Client(
            "rs",
            "Sensors API",
            (),
            ("client_credentials",),
            AuthMethod.CLIENT_SECRET_BASIC,
            0,
            FAST.hash(SECRET),
            introspect_audiences=(API,),
        )
    )
    return basic("rs")


def claims(world: World, **overrides: Any) -> dict[str, Any]:
    now = world.clock.now()
    base = {
        "iss": ISSUER,
        "sub": "alice-id",
        "aud": API,
        "exp": now + 900,
        "iat": now,
        "nbf": now,
        "jti": secrets.token_urlsafe(12),
        "client_id": "web",
        "scope": "read_sensors",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def signed(world: World, typ: str = ACCESS_TOKEN_TYP, **overrides: Any) -> str:
    return world.provider.keyring.sign_jwt(claims(world, **overrides), typ=typ)


async def foreign(world: World) -> str:
    """Signed by a key this IdP never had: an unknown kid."""
    storage = MemoryStorage()
    box = SecretBox(b"f" * 32)
    await storage.add_key(generate("ES256", box, world.clock.now() - 10))
    ring = KeyRing(storage, box, world.clock, signing_threads=0)
    await ring.load()
    return ring.sign_jwt(claims(world), typ=ACCESS_TOKEN_TYP)


def unsigned(world: World) -> str:
    kid = world.provider.keyring.signing_key().kid
    return f"{b64json({'alg': 'none', 'typ': 'at+jwt', 'kid': kid})}.{b64json(claims(world))}."


def tampered(world: World) -> str:
    header, _, signature = signed(world).split(".")
    return f"{header}.{b64json(claims(world, sub='admin'))}.{signature}"


Craft = Callable[[World], str]
CASES: list[tuple[str, Craft, str | None]] = [
    ("valid", lambda w: signed(w), None),
    ("typ of an ID token", lambda w: signed(w, typ="JWT"), "typ"),
    ("alg none", unsigned, "alg"),
    ("tampered claims", tampered, "signature"),
    ("another issuer", lambda w: signed(w, iss="https://evil.test"), "iss"),
    ("another audience", lambda w: signed(w, aud="https://billing.test"), "aud"),
    (
        "expired beyond the leeway",
        lambda w: signed(w, exp=w.clock.now() - 2 * DEFAULT_LEEWAY, iat=w.clock.now() - 960),
        "exp",
    ),
    ("not yet valid", lambda w: signed(w, nbf=w.clock.now() + 2 * DEFAULT_LEEWAY), "nbf"),
    ("issued in the future", lambda w: signed(w, iat=w.clock.now() + 120, nbf=None), "iat"),
    ("no jti", lambda w: signed(w, jti=None), "claims"),
]


async def verdicts(
    world: World, library: TokenValidator, rs: str, token: str
) -> tuple[str | None, bool, str | None]:
    """(the library's refusing rule, introspection's ``active``, inspect's first failure)."""
    try:
        library.validate(token)
        refusal = None
    except TokenError as error:
        refusal = error.check
    active = (await introspect(world, token, authorization=rs)).body["active"]
    explanation = await inspect_token(
        token, world.storage, issuer=ISSUER, clock=world.clock, audience=API
    )
    failure = explanation.first_failure
    assert explanation.valid is (failure is None)
    return refusal, active, failure.name if failure else None


@pytest.mark.parametrize(("case", "craft", "rule"), CASES, ids=[c[0] for c in CASES])
async def test_library_introspection_and_inspect_agree(
    world: World,
    library: TokenValidator,
    resource_server: str,
    case: str,
    craft: Craft,
    rule: str | None,
) -> None:
    token = craft(world)
    assert await verdicts(world, library, resource_server, token) == (rule, rule is None, rule)


async def test_unknown_kid_is_refused_alike(
    world: World, library: TokenValidator, resource_server: str
) -> None:
    token = await foreign(world)
    assert await verdicts(world, library, resource_server, token) == ("kid", False, "kid")


async def test_revoked_token_is_refused_alike(
    world: World, library: TokenValidator, resource_server: str, revoked: Revoked
) -> None:
    token = signed(world)
    assert await verdicts(world, library, resource_server, token) == (None, True, None)
    jti = claims_of(token)["jti"]
    await world.storage.revoke(Revocation(jti, world.clock.now() + 900, world.clock.now()))
    revoked.jtis.add(jti)  # as the feed would deliver it
    assert await verdicts(world, library, resource_server, token) == ("revoked", False, "revoked")


async def test_issued_token_is_accepted_alike(
    world: World, library: TokenValidator, resource_server: str
) -> None:
    token = str((await code_tokens(world))["access_token"])
    assert await verdicts(world, library, resource_server, token) == (None, True, None)


def test_the_typ_the_idp_signs_is_one_the_core_accepts() -> None:
    assert ACCESS_TOKEN_TYP in ACCEPTED_TYP


async def test_the_issuer_forgives_no_clock_skew(world: World, library: TokenValidator) -> None:
    """Inside a resource server's leeway the library still accepts a token that the
    issuer, judging by its own clock, already calls inactive (ISSUER_LEEWAY)."""
    token = signed(world)
    world.clock.advance(900 + DEFAULT_LEEWAY // 2)
    library.validate(token)
    assert (await introspect(world, token)).body == {"active": False}


# The lookup and its key source -------------------------------------------------------


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


async def test_access_token_is_found_with_its_parties(world: World) -> None:
    token = signed(world)
    lookup = TokenLookup(world.provider.keyring, world.storage, world.clock, ISSUER)
    found = await lookup.find(token)
    assert found is not None and found.kind == "access_token" and found.active
    assert (found.client_id, found.subject, found.jti) == (
        "web",
        "alice-id",
        claims_of(token)["jti"],
    )
    assert found.expires_at == claims_of(token)["exp"]
    assert await lookup.find(token.rsplit(".", 1)[0] + ".AAAA") is None


class CountingRing:
    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self.reads = 0

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        self.reads += 1
        return self.ring.jwks()


async def test_server_keys_are_read_again_once_per_clock_tick_and_for_an_unknown_kid(
    world: World,
) -> None:
    ring = CountingRing(world.provider.keyring)
    clock = FrozenClock(world.clock.now())
    keys = ServerKeys(ring, clock)
    first = keys.current()
    assert keys.current() is first and ring.reads == 1  # same second: no read
    clock.advance(1)
    assert keys.current() is first and ring.reads == 2  # read, same kids: not parsed again
    assert set(first.keys) == {jwk["kid"] for jwk in world.provider.keyring.jwks()["keys"]}
    assert keys.refetch_for("unknown") is first and ring.reads == 3
