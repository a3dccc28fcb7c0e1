"""When two client names are the same name to a reader.

The login and consent pages name the client; a registrant who could take the name of
an existing client ("Grid-Monitor") would pass as it. Two names are the same when they
differ only in what a reader does not tell apart at a glance: Unicode compatibility
forms (NFKC: fullwidth letters, ligatures), case (full case folding), and everything
that is not a letter or a digit (spaces, punctuation, symbols, combining marks left
after composition, invisible format characters and the Hangul fillers, which are
letters that show nothing). So "Grid-Monitor", "grid  monitor", "GRID_MONITOR" and its
fullwidth spelling are one name; "Grid Monitor 2" is another.

Letters of other scripts that look alike (Cyrillic U+0430 for Latin "a") are not
folded: Unicode's confusables tables are not in the standard library. That is why
the consent page of a self-registered client also says it was registered by a third
party and names the host it returns to.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from tollhouse.errors import InvalidClientMetadata
from tollhouse.models import Client
from tollhouse.storage.ports import ClientStore

_KEPT = frozenset("LN")
"""Unicode general categories (first letter) that make a name: letters and digits."""

_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
"""Hangul fillers: category Lo, yet they show nothing."""


def name_key(name: str) -> str:
    """The form in which two names compare; a name of only punctuation keeps it."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    # Case folding can leave a decomposed form (U+01F0 → j, U+030C); compose again.
    folded = unicodedata.normalize("NFKC", folded)
    key = "".join(
        c for c in folded if unicodedata.category(c)[0] in _KEPT and c not in _BLANK_LETTERS
    )
    return key or " ".join(folded.split())


def holder_of(
    name: str, clients: Iterable[Client], *, other_than: str | None = None
) -> Client | None:
    """The client, other than ``other_than``, whose name is the same name as ``name``."""
    key = name_key(name)
    for client in clients:
        if client.client_id != other_than and name_key(client.name) == key:
            return client
    return None


async def check_free(
    clients: ClientStore, name: str | None, *, other_than: str | None = None
) -> None:
    """RFC 7591 §3.2.2 ``invalid_client_metadata`` when ``name`` is another client's.
    The holder is not named: an anonymous registrant learns only that the name is in
    use. Every name is read: registration is rate-limited per address, and a stored
    key would need migrating whenever the folding rules change."""
    if name is None:
        return  # the name becomes the client_id the server issues, unique already
    if holder_of(name, await clients.list_clients(), other_than=other_than) is not None:
        raise InvalidClientMetadata(
            "client_name is already the name of another client (names are compared "
            "ignoring case, spaces and punctuation); choose another name."
        )
