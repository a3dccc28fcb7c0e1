"""One module per grant type (RFC 6749 §4)."""

from __future__ import annotations

from typing import ClassVar, Protocol

from tollhouse.models import Client
from tollhouse.protocol.requests import TokenRequest
from tollhouse.protocol.results import JsonResult


class Grant(Protocol):
    grant_type: str
    parameters: ClassVar[tuple[str, ...]]
    """The form parameters ``handle`` reads besides ``grant_type`` and client credentials
    (the /token description in web/openapi.py is built from them)."""

    async def handle(self, client: Client, request: TokenRequest) -> JsonResult: ...
