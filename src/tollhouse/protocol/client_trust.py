"""Whether an operator made a client, and so vouches for the URLs the server fetches
for it (a back-channel logout URI, a ``jwks_uri``): those may be internal addresses.

Only RFC 7591 registration gives a client a registration access token: a client
without one was created by an operator (the CLI, the storage). A client registered
over HTTP, even with an operator's initial access token, chose its own URLs.
"""

from __future__ import annotations

from tollhouse.storage.ports import RegistrationTokenStore


async def operator_made(registrations: RegistrationTokenStore, client_id: str) -> bool:
    return await registrations.get_registration_access_token(client_id) is None
