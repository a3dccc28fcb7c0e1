"""Composition root of the identity provider: config + stores → endpoints, wired by
keyword, one module per area (tokens, clients, endpoints, sign-in, operations).

Typed constructors everywhere, so a missing piece fails at start-up, not mid-request.
"""

from tollhouse.provider.operations import close_mirrors, revocation_mirrors
from tollhouse.provider.parts import DiscoveryCache, Hashers, PageSettings
from tollhouse.provider.provider import Provider, build_provider

__all__ = [
    "DiscoveryCache",
    "Hashers",
    "PageSettings",
    "Provider",
    "build_provider",
    "close_mirrors",
    "revocation_mirrors",
]
