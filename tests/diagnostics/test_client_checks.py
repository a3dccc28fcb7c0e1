"""Registered redirect URIs judged by today's registration rules; the demo data."""

from __future__ import annotations

import dataclasses

from tollhouse.diagnostics.client_checks import (
    check_client_scopes,
    check_demo_data,
    check_redirect_uris,
)
from tollhouse.diagnostics.findings import Level
from tollhouse.models import Api, AuthMethod, Client, GrantType, User


def client(*uris: str, client_id: str = "app") -> Client:
    return Client(
        client_id, "App", uris, (GrantType.AUTHORIZATION_CODE,), AuthMethod.NONE, 1_800_000_000
    )


def test_conforming_redirect_uris_are_ok() -> None:
    found = check_redirect_uris([client("https://app.test/cb", "http://127.0.0.1:7000/cb")])
    assert [f.level for f in found] == [Level.OK]
    assert "2 redirect URIs of 1 clients" in found[0].what


def test_plain_http_off_loopback_is_an_error() -> None:
    found = check_redirect_uris([client("http://app.example.test/cb")])
    assert found[0].level is Level.ERROR
    assert "non-loopback" in found[0].what


def test_uri_no_longer_registrable_is_a_warning() -> None:
    found = check_redirect_uris([client("http://localhost:7000/cb", "com.example.app:/cb")])
    assert [f.level for f in found] == [Level.WARNING, Level.WARNING]
    assert "would be refused today" in found[0].what


def test_code_flow_client_without_redirect_uri_is_a_warning() -> None:
    found = check_redirect_uris([client()])
    assert found[0].level is Level.WARNING


def test_demo_data_is_flagged() -> None:
    users = [User("u1", "operator", "$argon2id$x", 1)]
    found = check_demo_data([client(client_id="grid-monitor")], users)
    assert len(found) == 1 and found[0].level is Level.WARNING
    assert "client grid-monitor, user operator" in found[0].what
    assert check_demo_data([client()], []) == []


def test_clients_with_scopes_no_api_defines_are_warnings() -> None:
    apis = [Api("https://sensors.test", ("read_sensors",), 1)]
    clients = [
        dataclasses.replace(client(client_id="ok"), scopes=("openid", "read_sensors")),
        dataclasses.replace(client(client_id="any"), scopes=None),
        dataclasses.replace(client(client_id="stale"), scopes=("openid", "read_billing")),
    ]

    found = check_client_scopes(clients, apis)

    assert [(f.check, f.level) for f in found] == [("scopes", Level.WARNING)]
    assert "client stale is registered with read_billing" in found[0].what
    assert "tollhouse apis create" in (found[0].fix or "")
    (fine,) = check_client_scopes(clients[:2], apis)
    assert fine.level is Level.OK and "2 clients" in fine.what
