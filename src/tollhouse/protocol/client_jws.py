"""A JWT a client signed with one of its registered keys: a client assertion (RFC 7523)
or a request object (RFC 9101). The checks both share, on the resource library's strict
JOSE code (``resource/at_jwt.py``, ``resource/jwk.py``): compact form and size,
canonical base64url JSON, an accepted ``alg`` (never ``none`` or HMAC), no ``crit``
or ``b64``, a ``typ`` of the expected kind, and the signature of the key the header
names (or the only key of its ``alg``), the client's ``jwks_uri`` read again once if
the ``kid`` is unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Final, Protocol

from tollhouse.errors import OAuthError
from tollhouse.models import Client
from tollhouse.protocol.client_keys import KeyChoice, choose_key
from tollhouse.resource import at_jwt
from tollhouse.resource.errors import TokenError
from tollhouse.resource.jwk import VerifyKey

MAX_JWT_BYTES: Final = 16 * 1024

Refusal = Callable[[str], OAuthError]
"""Makes the error of a refusal from its description (``invalid_client`` for an
assertion, ``invalid_request_object`` for a request object)."""


class ClientKeys(Protocol):
    async def keys_of(self, client: Client, *, refresh: bool = False) -> tuple[VerifyKey, ...]:
        """The client's keys. ``refresh``: a kid was not found, so fetch the client's
        ``jwks_uri`` again if it was not fetched very recently. Raises
        :class:`~tollhouse.errors.InvalidClient` if the client has no usable keys."""


def split(signed: str, refusal: Refusal) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS, before any check of the signature."""
    parts = signed.split(".")
    if len(signed) > MAX_JWT_BYTES or len(parts) != 3:
        raise refusal("it is not a compact JWS (RFC 7515 section 7.1).")
    try:
        return at_jwt.header_of(parts[0]), at_jwt.payload_of(parts[1])
    except TokenError as error:
        raise refusal(error.description) from None


def check_header(
    header: dict[str, Any], algorithms: Collection[str], typs: Collection[str], refusal: Refusal
) -> str:
    """The header's ``alg``, once every header rule passed."""
    try:
        at_jwt.check_crit(header)
    except TokenError as error:
        raise refusal(error.description) from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise refusal(f"alg {str(alg)[:16]!r} is not accepted; use one of {', '.join(algorithms)}.")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in typs):
        raise refusal(f"typ {str(typ)[:40]!r} is not accepted here.")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid):
        raise refusal("kid must be a non-empty string.")
    return alg


async def check_signature(
    signed: str,
    header: dict[str, Any],
    client: Client,
    keys: ClientKeys,
    refusal: Refusal,
) -> None:
    key = await _key(client, keys, header.get("kid"), header["alg"], refusal)
    try:
        at_jwt.check_signature(signed, signed.rindex("."), key)
    except TokenError:
        raise refusal("its signature does not verify with the client's key.") from None


async def _key(
    client: Client, keys: ClientKeys, kid: str | None, alg: str, refusal: Refusal
) -> VerifyKey:
    choice, key = choose_key(await keys.keys_of(client), kid, alg)
    if choice == KeyChoice.UNKNOWN_KID:
        # The client may have rotated: its jwks_uri is read again (rate limited).
        choice, key = choose_key(await keys.keys_of(client, refresh=True), kid, alg)
    if key is not None:
        return key
    if choice == KeyChoice.UNKNOWN_KID:
        raise refusal(f"no key with kid {str(kid)[:64]!r} is registered for this client.")
    if choice == KeyChoice.AMBIGUOUS:
        raise refusal(f"the client has several {alg} keys; name one with kid.")
    raise refusal(f"no registered key of this client is for alg {alg}.")
