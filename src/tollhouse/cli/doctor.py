"""``tollhouse doctor``: check configuration, database, keys, TLS, redirect URIs and
clock; print each finding with its fix; exit 1 if any finding is an error."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from tollhouse.cli.context import admin_settings, echo_json, state_options
from tollhouse.diagnostics.config_checks import invalid_settings
from tollhouse.diagnostics.doctor import diagnose
from tollhouse.diagnostics.findings import Finding, Level, counts, exit_code
from tollhouse.errors import ConfigError

MARKS = {Level.OK: "✓", Level.WARNING: "!", Level.ERROR: "✗"}


@click.command()
@click.option("--url", default=None, help="Also probe this running server (e.g. the issuer URL).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--host", default=None, help="As for serve (env TOLLHOUSE_HOST).")
@click.option("--port", type=int, default=None, help="As for serve (env TOLLHOUSE_PORT).")
@click.option("--issuer", default=None, help="As for serve (env TOLLHOUSE_ISSUER).")
@click.option("--redis", default=None, help="As for serve (env TOLLHOUSE_REDIS).")
@click.option("--tls-cert", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--insecure-http", is_flag=True, default=None, help="As for serve.")
@click.option("--workers", type=int, default=None, help="As for serve.")
@state_options
def doctor(
    url: str | None,
    as_json: bool,
    data_dir: Path | None,
    database: str | None,
    **serve_options: Any,
) -> None:
    """Check this installation and say how to fix what is wrong.

    Takes the same settings as `serve` (flags and TOLLHOUSE_* variables); what neither
    gives is taken from the running server's record (<data-dir>/serving.json). Read-only:
    it never migrates or creates anything. Exit 1 if any finding is an error.
    """
    try:
        settings = admin_settings(data_dir, database, **serve_options)
    except ConfigError as exc:
        findings = [invalid_settings(str(exc))]
    else:
        findings = asyncio.run(diagnose(settings, url=url))
    code = exit_code(findings)
    if as_json:
        echo_json(
            {
                "findings": [f.to_dict() for f in findings],
                "summary": counts(findings),
                "exit_code": code,
            }
        )
    else:
        _print(findings)
    if code:
        errors = counts(findings)["error"]
        click.echo(f"error: doctor found {errors} error{'s' if errors != 1 else ''}", err=True)
        raise SystemExit(code)


def _print(findings: list[Finding]) -> None:
    width = max((len(f.check) for f in findings), default=0)
    for finding in findings:
        click.echo(f"{MARKS[finding.level]} {finding.check.ljust(width)}  {finding.what}")
        if finding.fix:
            click.echo(f"  {' ' * width}  fix: {finding.fix}")
    summary = counts(findings)
    click.echo(
        f"{summary['ok']} ok, {summary['warning']} warning"
        f"{'s' if summary['warning'] != 1 else ''}, {summary['error']} error"
        f"{'s' if summary['error'] != 1 else ''}"
    )
