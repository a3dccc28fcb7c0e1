"""RFC 7591 registration and RFC 7592 management, in process (memory storage, frozen clock)."""

from __future__ import annotations

import json
from typing import Any

from tests.protocol.conftest import CALLBACK, World
from tests.protocol.tokens_helpers import basic, token
from tests.security.dns import ScriptedDns
from tollhouse.models import InitialAccessToken
from tollhouse.protocol.api_index import ApiIndexCache
from tollhouse.protocol.endpoints.registration import RegistrationEndpoint, bearer_token
from tollhouse.protocol.results import JsonResult
from tollhouse.randomness import fingerprint
from tollhouse.security.outbound import OutboundGuard

INITIAL = "initial-" + "t" * 40
BODY = {"client_name": "Dyn App", "redirect_uris": [CALLBACK], "scope": "read_sensors"}


def raw(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


async def add_initial(world: World, value: str = INITIAL, uses: int = 1, ttl: int = 600) -> None:
    now = world.clock.now()
    await world.storage.add_initial_access_token(
        InitialAccessToken(fingerprint(value), now, now + ttl, uses)
    )


async def uses_left(world: World, value: str = INITIAL) -> int:
    found = await world.storage.get_initial_access_token(fingerprint(value))
    assert found is not None
    return found.uses_left


def endpoint_with(world: World, policy: str) -> RegistrationEndpoint:
    return RegistrationEndpoint(
        clients=world.storage,
        tokens=world.storage,
        api_index=ApiIndexCache(world.storage),
        hasher=world.provider.client_secrets,
        revoker=world.provider.revoker,
        clock=world.clock,
        issuer="https://idp.test",
        policy=policy,
        url_guard=OutboundGuard(resolver=ScriptedDns()),
    )


async def register(world: World, body: dict[str, Any] | None = None) -> JsonResult:
    await add_initial(world)
    return await world.provider.registration.register(raw(body or BODY), f"Bearer {INITIAL}")


def test_bearer_token_is_read_from_the_authorization_header() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer   abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None


async def test_registration_without_initial_access_token_is_401_without_error_code(
    world: World,
) -> None:
    before = await world.storage.list_clients()
    result = await world.provider.registration.register(raw(BODY), None)
    assert result.status == 401
    assert result.headers["WWW-Authenticate"] == 'Bearer realm="tollhouse"'
    assert result.body["error"] == "invalid_token"
    assert await world.storage.list_clients() == before


async def test_unknown_initial_access_token_is_invalid_token(world: World) -> None:
    result = await world.provider.registration.register(raw(BODY), "Bearer nope")
    assert result.status == 401
    assert 'error="invalid_token"' in result.headers["WWW-Authenticate"]


async def test_registration_returns_client_information_and_spends_one_use(world: World) -> None:
    await add_initial(world, uses=2)
    before = len(await world.storage.list_clients())
    result = await world.provider.registration.register(raw(BODY), f"Bearer {INITIAL}")

    assert result.status == 201, result.body
    body = result.body
    assert result.headers["Cache-Control"] == "no-store"
    assert body["client_secret_expires_at"] == 0
    assert body["client_id_issued_at"] == world.clock.now()
    assert body["registration_client_uri"] == f"https://idp.test/register/{body['client_id']}"
    assert body["client_name"] == "Dyn App"
    assert body["redirect_uris"] == [CALLBACK]
    assert body["grant_types"] == ["authorization_code"]
    assert body["response_types"] == ["code"]
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["scope"] == "read_sensors"
    assert await uses_left(world) == 1
    assert len(await world.storage.list_clients()) == before + 1
    stored = await world.storage.get_client(body["client_id"])
    assert stored is not None and stored.secret_hash is not None
    assert body["client_secret"] not in stored.secret_hash
    registration = await world.storage.get_registration_access_token(body["client_id"])
    assert registration is not None
    assert registration.token_hash == fingerprint(body["registration_access_token"])


async def test_used_up_initial_access_token_is_refused(world: World) -> None:
    assert (await register(world)).status == 201
    again = await world.provider.registration.register(raw(BODY), f"Bearer {INITIAL}")
    assert again.status == 401 and again.body["error"] == "invalid_token"


async def test_expired_initial_access_token_is_refused(world: World) -> None:
    await add_initial(world, ttl=60)
    world.clock.advance(60)
    result = await world.provider.registration.register(raw(BODY), f"Bearer {INITIAL}")
    assert result.status == 401


async def test_refused_metadata_leaves_the_token_unspent(world: World) -> None:
    await add_initial(world)
    clients = await world.storage.list_clients()
    result = await world.provider.registration.register(
        raw({"redirect_uris": ["http://evil.example/cb"]}), f"Bearer {INITIAL}"
    )
    assert result.status == 400 and result.body["error"] == "invalid_redirect_uri"
    assert await uses_left(world) == 1
    assert await world.storage.list_clients() == clients


async def test_urls_the_server_fetches_cannot_be_internal(world: World) -> None:
    """Issue 21: refused with invalid_client_metadata naming the field; nothing spent."""
    await add_initial(world)
    clients = await world.storage.list_clients()
    for field, url in (
        ("backchannel_logout_uri", "https://169.254.169.254/latest/meta-data/"),
        ("backchannel_logout_uri", "http://127.0.0.1:9000/bc"),
        ("jwks_uri", "https://[::ffff:10.0.0.1]/jwks"),
    ):
        result = await world.provider.registration.register(
            raw({**BODY, field: url}), f"Bearer {INITIAL}"
        )
        assert result.status == 400 and result.body["error"] == "invalid_client_metadata"
        assert result.body["error_description"].startswith(f"{field} must not point at")
    assert await uses_left(world) == 1
    assert await world.storage.list_clients() == clients


async def test_an_update_cannot_aim_at_an_internal_url(world: World) -> None:
    created = (await register(world, {**BODY, "backchannel_logout_uri": "https://rp.test/bc"})).body
    bearer = f"Bearer {created['registration_access_token']}"
    update = {**BODY, "client_id": created["client_id"], "backchannel_logout_uri": "https://[::1]/"}
    refused = await world.provider.registration.update(created["client_id"], bearer, raw(update))
    assert refused.status == 400 and refused.body["error"] == "invalid_client_metadata"
    stored = await world.storage.get_client(created["client_id"])
    assert stored is not None and stored.backchannel_logout_uri == "https://rp.test/bc"


async def test_registered_client_authenticates_at_the_token_endpoint(world: World) -> None:
    result = await register(world, {"grant_types": ["client_credentials"], "scope": "read_sensors"})
    client_id, secret = result.body["client_id"], result.body["client_secret"]
    assert "redirect_uris" in result.body and result.body["response_types"] == []
    issued = await token(
        world, basic(client_id, secret), grant_type="client_credentials", scope="read_sensors"
    )
    assert issued.status == 200, issued.body
    wrong = await token(world, basic(client_id, "x" * 43), grant_type="client_credentials")
    assert wrong.status == 401


async def test_public_client_gets_no_secret(world: World) -> None:
    result = await register(
        world, {"redirect_uris": ["http://127.0.0.1:7000/cb"], "token_endpoint_auth_method": "none"}
    )
    assert result.status == 201
    assert "client_secret" not in result.body and "client_secret_expires_at" not in result.body
    stored = await world.storage.get_client(result.body["client_id"])
    assert stored is not None and stored.is_public and stored.secret_hash is None


async def test_dpop_bound_access_tokens_is_stored_and_returned(world: World) -> None:
    """RFC 9449 §5.2 client metadata."""
    result = await register(world, {**BODY, "dpop_bound_access_tokens": True})
    assert result.status == 201, result.body
    assert result.body["dpop_bound_access_tokens"] is True
    stored = await world.storage.get_client(result.body["client_id"])
    assert stored is not None and stored.dpop_bound_access_tokens


async def test_dpop_bound_access_tokens_must_be_a_boolean(world: World) -> None:
    refused = await register(world, {**BODY, "dpop_bound_access_tokens": "yes"})
    assert refused.status == 400
    assert refused.body["error"] == "invalid_client_metadata"


async def test_open_policy_registers_without_a_token(world: World) -> None:
    result = await endpoint_with(world, "open").register(raw(BODY), None)
    assert result.status == 201
    stored = await world.storage.get_client(result.body["client_id"])
    assert stored is not None and stored.self_registered


async def test_a_client_registered_with_an_initial_access_token_is_not_self_registered(
    world: World,
) -> None:
    """The operator issued the token: someone vouched for the registrant."""
    result = await register(world)
    stored = await world.storage.get_client(result.body["client_id"])
    assert stored is not None and not stored.self_registered


async def test_off_policy_refuses_registration_and_hides_the_endpoint(world: World) -> None:
    endpoint = endpoint_with(world, "off")
    result = await endpoint.register(raw(BODY), f"Bearer {INITIAL}")
    assert result.status == 403 and result.body["error"] == "access_denied"
    assert endpoint.discovery_endpoints() == {}
    assert world.provider.registration.discovery_endpoints() == {
        "registration_endpoint": "/register"
    }


async def test_read_returns_the_registration_and_rotates_its_token(world: World) -> None:
    created = (await register(world)).body
    client_id, first = created["client_id"], created["registration_access_token"]
    read = await world.provider.registration.read(client_id, f"Bearer {first}")
    assert read.status == 200
    assert read.body["client_name"] == "Dyn App" and "client_secret" not in read.body
    second = read.body["registration_access_token"]
    assert second != first
    stale = await world.provider.registration.read(client_id, f"Bearer {first}")
    assert stale.status == 401
    assert (await world.provider.registration.read(client_id, f"Bearer {second}")).status == 200


async def test_management_needs_this_clients_registration_token(world: World) -> None:
    created = (await register(world)).body
    access = created["registration_access_token"]
    registration = world.provider.registration
    assert (await registration.read(created["client_id"], None)).headers[
        "WWW-Authenticate"
    ] == 'Bearer realm="tollhouse"'
    # A client created with the CLI has no registration access token.
    assert (await registration.read("web", f"Bearer {access}")).status == 401
    assert (await registration.delete("web", f"Bearer {access}")).status == 401
    assert await world.storage.get_client("web") is not None
    assert (await registration.read("no-such-client", f"Bearer {access}")).status == 401


async def test_update_replaces_metadata_and_omitted_fields_are_removed(world: World) -> None:
    created = (await register(world)).body
    client_id = created["client_id"]
    update = {
        "client_id": client_id,
        "redirect_uris": ["https://app.test/new-cb"],
        "client_name": "Renamed",
        "registration_access_token": "ignored",
        "client_id_issued_at": 1,
    }
    result = await world.provider.registration.update(
        client_id, f"Bearer {created['registration_access_token']}", raw(update)
    )
    assert result.status == 200, result.body
    assert result.body["redirect_uris"] == ["https://app.test/new-cb"]
    assert "scope" not in result.body  # omitted: every scope again (RFC 7592 §2.2)
    stored = await world.storage.get_client(client_id)
    assert stored is not None
    assert stored.name == "Renamed" and stored.scopes is None
    assert stored.created_at == created["client_id_issued_at"]
    # The secret was kept.
    assert stored.secret_hash is not None
    assert await world.provider.client_secrets.verify(stored.secret_hash, created["client_secret"])


async def test_update_needs_the_same_client_id_and_the_current_secret(world: World) -> None:
    created = (await register(world)).body
    client_id, access = created["client_id"], created["registration_access_token"]
    update = world.provider.registration.update
    wrong_id = await update(client_id, f"Bearer {access}", raw({**BODY, "client_id": "other"}))
    assert wrong_id.status == 400 and wrong_id.body["error"] == "invalid_client_metadata"
    chosen_secret = await update(
        client_id,
        f"Bearer {access}",
        raw({**BODY, "client_id": client_id, "client_secret": "my own secret"}),
    )
    assert chosen_secret.status == 400 and "own secret" in chosen_secret.body["error_description"]
    same_secret = await update(
        client_id,
        f"Bearer {access}",
        raw({**BODY, "client_id": client_id, "client_secret": created["client_secret"]}),
    )
    assert same_secret.status == 200, same_secret.body
    # The refused updates did not rotate the token; the accepted one did.
    assert same_secret.body["registration_access_token"] != access


async def test_update_to_confidential_issues_a_secret_and_to_public_drops_it(
    world: World,
) -> None:
    created = (
        await register(
            world,
            {"redirect_uris": ["http://127.0.0.1:7000/cb"], "token_endpoint_auth_method": "none"},
        )
    ).body
    client_id = created["client_id"]
    confidential = await world.provider.registration.update(
        client_id,
        f"Bearer {created['registration_access_token']}",
        raw({"client_id": client_id, "redirect_uris": ["http://127.0.0.1:7000/cb"]}),
    )
    assert confidential.status == 200 and confidential.body["client_secret"]
    public = await world.provider.registration.update(
        client_id,
        f"Bearer {confidential.body['registration_access_token']}",
        raw(
            {
                "client_id": client_id,
                "redirect_uris": ["http://127.0.0.1:7000/cb"],
                "token_endpoint_auth_method": "none",
            }
        ),
    )
    assert public.status == 200 and "client_secret" not in public.body
    stored = await world.storage.get_client(client_id)
    assert stored is not None and stored.secret_hash is None


async def test_delete_removes_the_client_and_its_registration_token(world: World) -> None:
    created = (await register(world, {"grant_types": ["client_credentials"]})).body
    client_id, access = created["client_id"], created["registration_access_token"]
    issued = await token(
        world, basic(client_id, created["client_secret"]), grant_type="client_credentials"
    )
    assert issued.status == 200
    result = await world.provider.registration.delete(client_id, f"Bearer {access}")
    assert result.status == 204
    assert await world.storage.get_client(client_id) is None
    assert await world.storage.get_registration_access_token(client_id) is None
    assert (await world.provider.registration.delete(client_id, f"Bearer {access}")).status == 401
    records = await world.storage.access_tokens_of(world.clock.now(), client_id=client_id)
    assert records
    assert all([await world.storage.is_revoked(r.jti, world.clock.now()) for r in records])
