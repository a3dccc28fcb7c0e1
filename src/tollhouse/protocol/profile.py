"""The FAPI 2.0 Security Profile (``TOLLHOUSE_PROFILE=fapi2``): rules on top of the
defaults, applied to every client. A stored client that breaks them still loads; its
requests are refused with an error naming the rule (``tollhouse doctor`` lists such
clients).

What the profile changes (FAPI 2.0 Security Profile §5.3):

- client authentication: ``private_key_jwt`` only (mTLS is not offered), so no public
  clients and no secrets (§5.3.2.1 item 3, §5.3.1.2 item 4);
- assertions: ``aud`` the issuer identifier only (§5.3.2.1 item 8, CVE-2025-27370);
  ES256, EdDSA or PS256 (§5.4.1);
- authorization requests: pushed (PAR, §5.3.2.2 item 2), PKCE with S256 for every
  client (§5.3.2.2 item 4), ``response_type=code`` only (already so);
- tokens: sender-constrained (§5.3.2.1 item 5). DPoP and mTLS are built apart; a
  :class:`SenderConstraint` plugged into :class:`Fapi2Profile` says whether a token
  request will get bound tokens, and unbound ones are then refused.

Codes already live at most 60 s and every authorization response carries ``iss``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from tollhouse.algorithms import FAPI2_CLIENT_ALGS
from tollhouse.errors import InvalidClient, InvalidRequest
from tollhouse.models import Client
from tollhouse.protocol.requests import TokenRequest

PROFILES: Final = ("none", "fapi2")


class SenderConstraint(Protocol):
    def binds(self, request: TokenRequest) -> bool:
        """Whether the tokens of ``request`` will be sender-constrained (a valid DPoP
        proof came with it, or it came over mutual TLS)."""


@dataclass(frozen=True, slots=True)
class Fapi2Profile:
    sender_constraint: SenderConstraint | None = None
    """None until DPoP or mTLS is wired: tokens are then not checked for binding."""
    algorithms: tuple[str, ...] = FAPI2_CLIENT_ALGS

    def check_client(self, client: Client) -> None:
        if not client.uses_keys:
            raise InvalidClient(
                "The FAPI 2.0 profile is on: clients must authenticate with private_key_jwt "
                f"(FAPI 2.0 Security Profile 5.3.2.1); this client uses "
                f"{client.token_endpoint_auth_method}."
            )

    def check_token_request(self, request: TokenRequest) -> None:
        if self.sender_constraint is not None and not self.sender_constraint.binds(request):
            raise InvalidRequest(
                "The FAPI 2.0 profile is on: tokens must be sender-constrained; send a DPoP "
                "proof (FAPI 2.0 Security Profile 5.3.2.1)."
            )
