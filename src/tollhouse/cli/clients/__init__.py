"""``tollhouse clients``: register, inspect and remove OAuth clients.

Metadata is printed under the RFC 7591 §2 names (``client_name``, ``redirect_uris``,
``grant_types``, ``scope``, ``token_endpoint_auth_method``). A confidential client's
secret is 256 bits of randomness, printed once — at ``create`` and ``rotate-secret`` —
and stored only as a SHA-256 digest (never a bearer secret at rest;
security/client_secrets.py, ADR 0006).

One module per concept: ``create`` (with ``arguments``, the rules its options follow),
``manage`` (list, show, delete, trust), ``keys`` (the key options, and ``update``),
``secret`` (rotate-secret) and ``metadata`` (what is
printed about a client).
"""

from __future__ import annotations

import click

from tollhouse.cli.clients.create import create
from tollhouse.cli.clients.keys import update
from tollhouse.cli.clients.manage import delete, list_, show, trust
from tollhouse.cli.clients.secret import rotate_secret


@click.group()
def clients() -> None:
    """OAuth clients: the applications that ask for tokens."""


for _command in (create, update, list_, show, delete, rotate_secret, trust):
    clients.add_command(_command)

__all__ = ["clients"]
