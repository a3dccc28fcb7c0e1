"""The ``sub`` a client sees (OpenID Connect Core §8): public or pairwise.

A public subject is the user's stable random id. A pairwise subject is
``HMAC-SHA256(key, sector || user_id)``: stable for one sector (the host of the client's
redirect URIs), unlinkable across sectors, and impossible to reverse without the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit

from tollhouse.models import Client

PUBLIC, PAIRWISE = "public", "pairwise"


def sector_of(client: Client) -> str:
    """OIDC Core §8.1: the host of the redirect URIs (clients register one host)."""
    hosts = {urlsplit(uri).hostname or "" for uri in client.redirect_uris}
    return min(hosts) if hosts else client.client_id


class Subjects:
    def __init__(self, pairwise_key: bytes) -> None:
        self._key = pairwise_key

    def for_client(self, client: Client, user_id: str) -> str:
        if client.subject_type != PAIRWISE:
            return user_id
        message = f"{sector_of(client)}\x00{user_id}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
