"""``tollhouse``: the console script."""

from __future__ import annotations

import click

from tollhouse.cli import (
    admin_token,
    apis,
    clients,
    device,
    doctor,
    gateway,
    key_export,
    keys,
    login,
    migrate,
    registration_token,
    serve,
    sessions,
    token_inspect,
    token_signature,
    tokens,
    users,
)
from tollhouse.cli import user_factors as _user_factors  # noqa: F401 - adds to `users`


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="tollhouse")
def cli() -> None:
    """Tollhouse: a strict OAuth 2.0 / OpenID Connect identity provider."""


cli.add_command(serve.serve)
cli.add_command(migrate.migrate)
cli.add_command(clients.clients)
cli.add_command(users.users)
cli.add_command(apis.apis)
cli.add_command(keys.keys)
cli.add_command(tokens.tokens)
cli.add_command(sessions.sessions)
cli.add_command(device.device)
cli.add_command(login.login)
cli.add_command(gateway.gateway)
cli.add_command(doctor.doctor)
cli.add_command(registration_token.registration_token)
cli.add_command(token_inspect.token)
cli.add_command(admin_token.admin_token)
keys.keys.add_command(key_export.export)
token_inspect.token.add_command(token_signature.signature)


def main() -> None:
    cli(prog_name="tollhouse")
