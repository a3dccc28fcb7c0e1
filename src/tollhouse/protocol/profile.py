"""The FAPI 2.0 Security Profile (``TOLLHOUSE_PROFILE=fapi2``): rules on top of the
defaults, applied to every client. A stored client that breaks them still loads; its
requests are refused with an error naming the rule (``tollhouse doctor`` lists such
clients).

What the profile changes (FAPI 2.0 Security Profile §5.3):

- client authentication: ``private_key_jwt``, ``tls_client_auth`` or
  ``self_signed_tls_client_auth`` (RFC 8705 §2), so no public clients and no secrets
  (§5.3.2.1 item 3, §5.3.1.2 item 4);
- assertions: ``aud`` the issuer identifier only (§5.3.2.1 item 8, CVE-2025-27370);
  ES256, EdDSA or PS256 (§5.4.1);
- authorization requests: pushed (PAR, §5.3.2.2 item 2), PKCE with S256 for every
  client (§5.3.2.2 item 4), ``response_type=code`` only (already so);
- tokens: sender-constrained (§5.3.2.1 item 5): a token request needs a DPoP proof
  (RFC 9449) or a client certificate from the trusted proxy (RFC 8705 §3); the token
  endpoint checks the proof before any grant runs and binds what it issues.

Codes already live at most 60 s and every authorization response carries ``iss``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tollhouse.algorithms import FAPI2_CLIENT_ALGS
from tollhouse.errors import InvalidClient, InvalidRequest
from tollhouse.models import Client
from tollhouse.protocol.requests import TokenRequest

PROFILES: Final = ("none", "fapi2")


def sender_constrained(request: TokenRequest) -> bool:
    """Whether the tokens of ``request`` will be bound: it carries a DPoP proof (an
    invalid one is refused before any grant runs) or a client certificate."""
    return request.dpop is not None or request.certificate is not None


@dataclass(frozen=True, slots=True)
class Fapi2Profile:
    algorithms: tuple[str, ...] = FAPI2_CLIENT_ALGS

    def check_client(self, client: Client) -> None:
        if not (client.uses_keys or client.uses_certificate):
            raise InvalidClient(
                "The FAPI 2.0 profile is on: clients must authenticate with private_key_jwt "
                "or mutual TLS (FAPI 2.0 Security Profile 5.3.2.1); this client uses "
                f"{client.token_endpoint_auth_method}."
            )

    def check_token_request(self, request: TokenRequest) -> None:
        if not sender_constrained(request):
            raise InvalidRequest(
                "The FAPI 2.0 profile is on: tokens must be sender-constrained; send a DPoP "
                "proof or a client certificate (FAPI 2.0 Security Profile 5.3.2.1)."
            )
