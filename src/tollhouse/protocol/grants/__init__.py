"""One module per grant type (RFC 6749 §4)."""

from __future__ import annotations

from typing import Protocol

from tollhouse.models import Client
from tollhouse.protocol.requests import TokenRequest
from tollhouse.protocol.results import JsonResult


class Grant(Protocol):
    grant_type: str

    async def handle(self, client: Client, request: TokenRequest) -> JsonResult: ...
