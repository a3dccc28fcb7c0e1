"""RFC 7591 §2 client metadata rules, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from tollhouse.errors import InvalidClientMetadata, InvalidRedirectUriMetadata, InvalidRequest
from tollhouse.models import Api
from tollhouse.protocol.client_metadata import (
    defined_scopes,
    parse_body,
    undefined_scopes,
    validate,
)

SCOPES = frozenset({"openid", "read_sensors", "write_sensors", "read_billing"})
CB = "https://app.example/cb"


def check(body: dict[str, Any], default: tuple[str, ...] | None = None) -> Any:
    return validate(body, server_scopes=SCOPES, default_client_scopes=default)


def test_minimal_registration_defaults_to_the_code_flow_and_client_secret_basic() -> None:
    meta = check({"redirect_uris": [CB]})
    assert meta.grant_types == ("authorization_code",)
    assert meta.response_types == ("code",)
    assert meta.token_endpoint_auth_method == "client_secret_basic"
    assert meta.scopes is None and meta.client_name is None and not meta.is_public


@pytest.mark.parametrize(
    "uri",
    [
        "http://app.example/cb",
        "https://app.example/cb#frag",
        "/relative/cb",
        "http://localhost:9000/cb",
        "https://user:pw@app.example/cb",
        "custom:cb",
    ],
)
def test_unsafe_redirect_uris_are_invalid_redirect_uri(uri: str) -> None:
    with pytest.raises(InvalidRedirectUriMetadata) as caught:
        check({"redirect_uris": [CB, uri]})
    assert caught.value.error == "invalid_redirect_uri"


def test_loopback_http_redirect_uris_are_allowed_for_native_apps() -> None:
    uris = ["http://127.0.0.1:7000/cb", "http://[::1]/cb"]
    assert check({"redirect_uris": uris, "token_endpoint_auth_method": "none"}).redirect_uris == (
        tuple(uris)
    )


def test_code_grant_needs_a_redirect_uri() -> None:
    with pytest.raises(InvalidRedirectUriMetadata, match="redirect_uris is required"):
        check({"client_name": "x"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"grant_types": ["implicit"]}, "not supported"),
        ({"grant_types": ["password"]}, "not supported"),
        ({"response_types": ["token"]}, "only code"),
        (
            {"grant_types": ["client_credentials"], "response_types": ["code"]},
            "inconsistent",
        ),
        ({"grant_types": ["authorization_code"], "response_types": []}, "inconsistent"),
        ({"grant_types": ["refresh_token"]}, "needs authorization_code"),
        ({"grant_types": []}, "at least one"),
        (
            {"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"},
            "cannot use client_credentials",
        ),
        ({"token_endpoint_auth_method": "client_secret_jwt"}, "not supported"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks or jwks_uri"),
        ({"scope": "read_sensors delete_everything"}, "delete_everything is not defined"),
        ({"scope": "read_sensorz write_sensorz"}, "read_sensorz write_sensorz are not defined"),
        ({"scope": "delete_everything"}, "tollhouse apis create"),
        ({"scope": ""}, "scope is empty"),
        ({"scope": 'read "quoted"'}, "scope"),
        ({"client_name": "x" * 201}, "client_name"),
        ({"client_name": "bad\x07name"}, "client_name"),
        ({"grant_types": "authorization_code"}, "array of strings"),
        ({"id_token_signed_response_alg": "none"}, "not supported"),
        ({"subject_type": "secret"}, "not supported"),
        ({"post_logout_redirect_uris": ["http://evil.example/"]}, "post_logout_redirect_uris"),
        ({"backchannel_logout_uri": "https://rp.example/bc#x"}, "fragment"),
        ({"sector_identifier_uri": "https://rp.example/sector.json"}, "not supported"),
    ],
)
def test_invalid_metadata_names_the_field_and_rule(body: dict[str, Any], message: str) -> None:
    body = {"redirect_uris": [CB], **body}
    with pytest.raises(InvalidClientMetadata, match=message) as caught:
        check(body)
    assert caught.value.error == "invalid_client_metadata"
    assert caught.value.status == 400


def test_grant_types_and_response_types_are_derived_from_each_other() -> None:
    machine = check({"grant_types": ["client_credentials"]})
    assert machine.response_types == () and machine.redirect_uris == ()
    from_response = check({"response_types": ["code"], "redirect_uris": [CB]})
    assert from_response.grant_types == ("authorization_code",)


def test_unknown_and_informational_metadata_is_ignored() -> None:
    meta = check(
        {
            "redirect_uris": [CB],
            "logo_uri": "https://app.example/logo.png",
            "contacts": ["ops@app.example"],
            "software_statement": "eyJ...",
            "x-vendor-extension": {"nested": True},
            "client_uri": None,
        }
    )
    assert meta.redirect_uris == (CB,)


def test_oidc_metadata_the_client_model_supports_is_kept() -> None:
    meta = check(
        {
            "redirect_uris": [CB],
            "post_logout_redirect_uris": ["https://app.example/bye"],
            "backchannel_logout_uri": "https://app.example/backchannel",
            "id_token_signed_response_alg": "ES256",
            "subject_type": "pairwise",
        }
    )
    assert meta.post_logout_redirect_uris == ("https://app.example/bye",)
    assert meta.backchannel_logout_uri == "https://app.example/backchannel"
    assert meta.id_token_signed_response_alg == "ES256"
    assert meta.subject_type == "pairwise"


def test_pairwise_clients_register_one_redirect_host() -> None:
    with pytest.raises(InvalidClientMetadata, match="single host"):
        check(
            {
                "redirect_uris": [CB, "https://other.example/cb"],
                "subject_type": "pairwise",
            }
        )


def test_registered_scope_must_stay_within_default_client_scopes() -> None:
    assert check({"redirect_uris": [CB], "scope": "read_sensors"}, ("read_sensors",)).scopes == (
        "read_sensors",
    )
    with pytest.raises(InvalidClientMetadata, match="not available"):
        check({"redirect_uris": [CB], "scope": "write_sensors"}, ("read_sensors",))


def test_null_fields_count_as_omitted() -> None:
    meta = check({"redirect_uris": [CB], "scope": None, "grant_types": None, "client_name": None})
    assert meta.scopes is None and meta.grant_types == ("authorization_code",)


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[1, 2]", b'"a string"', b"\xff\xfe", b'{"a": NaN}', b"[" * 5000],
)
def test_body_must_be_a_json_object(raw: bytes) -> None:
    with pytest.raises(InvalidRequest, match="JSON object"):
        parse_body(raw)


def test_json_object_body_is_parsed() -> None:
    assert parse_body(b'{"client_name": "caf\\u00e9"}') == {"client_name": "café"}


def test_defined_scopes_are_openid_connects_and_every_apis() -> None:
    apis = [Api("https://a.test", ("read_a",), 0), Api("https://b.test", ("read_b", "write_b"), 0)]

    defined = defined_scopes(apis)

    assert defined == {
        "openid",
        "profile",
        "email",
        "offline_access",
        "read_a",
        "read_b",
        "write_b",
    }
    assert undefined_scopes(["openid", "read_c", "read_a", "write_c"], defined) == [
        "read_c",
        "write_c",
    ]


def test_allowed_cors_origins_are_origins_only() -> None:
    body = {
        "redirect_uris": [CB],
        "allowed_cors_origins": ["https://spa.example", "http://127.0.0.1:9002"],
    }
    assert check(body).allowed_cors_origins == ("https://spa.example", "http://127.0.0.1:9002")
    for bad in ("https://spa.example/", "https://spa.example/app", "spa.example", "*", "null"):
        with pytest.raises(InvalidClientMetadata, match="allowed_cors_origins"):
            check({"redirect_uris": [CB], "allowed_cors_origins": [bad]})
