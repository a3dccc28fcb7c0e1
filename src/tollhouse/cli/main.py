"""``tollhouse``: the console script.

Each command's module is imported when that command runs (or ``--help`` lists them), so
a command does not pay for loading every other command's dependencies.
"""

from __future__ import annotations

import importlib

import click

COMMANDS = {
    "serve": "serve:serve",
    "migrate": "migrate:migrate",
    "clients": "clients:clients",
    "users": "users:users",
    "apis": "apis:apis",
    "keys": "keys:keys",
    "tokens": "tokens:tokens",
    "sessions": "sessions:sessions",
    "device": "device:device",
    "login": "login:login",
    "gateway": "gateway:gateway",
    "doctor": "doctor:doctor",
    "registration-token": "registration_token:registration_token",
    "token": "token_inspect:token",
    "admin-token": "admin_token:admin_token",
}
"""Command name -> ``module:attribute`` under ``tollhouse.cli``."""

EXTENSIONS = {
    "users": ("user_factors",),  # adds `users show`, `users factors ...` on import
}
"""Modules that add subcommands to a group when imported."""

SUBCOMMANDS = {
    "keys": ("key_export:export",),
    "token": ("token_signature:signature",),
}
"""Subcommands defined apart from their group."""


def _load(target: str) -> click.Command:
    module, attribute = target.split(":")
    command = getattr(importlib.import_module(f"tollhouse.cli.{module}"), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"tollhouse.cli.{target} is not a click command")
    return command


class LazyGroup(click.Group):
    """A group that imports a command's module the first time the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            command = _load(COMMANDS[cmd_name])
            for module in EXTENSIONS.get(cmd_name, ()):
                importlib.import_module(f"tollhouse.cli.{module}")
            if isinstance(command, click.Group):
                for target in SUBCOMMANDS.get(cmd_name, ()):
                    sub = _load(target)
                    if sub.name not in command.commands:
                        command.add_command(sub)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:
            # Suggest among every command, not only the ones imported so far.
            raise click.exceptions.NoSuchCommand(
                exc.command_name, possibilities=COMMANDS, ctx=ctx
            ) from None


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="tollhouse")
def cli() -> None:
    """Tollhouse: a strict OAuth 2.0 / OpenID Connect identity provider."""


def main() -> None:
    cli(prog_name="tollhouse")
