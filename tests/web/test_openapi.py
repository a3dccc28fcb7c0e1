"""The OpenAPI document: the ``/token`` form comes from the grants' own metadata."""

from __future__ import annotations

import json

from tollhouse.models import GrantType
from tollhouse.web.openapi import FORM, GRANTS, PATHS, document


def token_schema() -> dict[str, object]:
    body = PATHS["/token"]["post"]["requestBody"]
    return dict(body["content"][FORM]["schema"])


def test_token_form_lists_every_grants_parameters_and_client_credentials() -> None:
    declared = {name for grant in GRANTS for name in grant.parameters}
    properties = token_schema()["properties"]
    assert isinstance(properties, dict)
    credentials = {"client_id", "client_secret", "client_assertion_type", "client_assertion"}
    assert set(properties) == declared | {"grant_type"} | credentials
    assert token_schema()["required"] == ["grant_type"]


def test_token_form_names_every_grant_type_the_server_knows() -> None:
    properties = token_schema()["properties"]
    assert isinstance(properties, dict)
    examples = properties["grant_type"]["examples"]
    assert examples == [str(grant.grant_type) for grant in GRANTS]
    assert set(examples) == {str(grant_type) for grant_type in GrantType}


def test_document_is_plain_json() -> None:
    doc = document("https://idp.test", "1.0")
    assert json.loads(json.dumps(doc)) == doc
    assert doc["servers"] == [{"url": "https://idp.test"}]
