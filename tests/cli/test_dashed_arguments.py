"""Ids that start with "-" are arguments, not options (key ids are base64url, and
client ids of earlier versions may start with "-"), while options keep working."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from tollhouse.cli.dashed_arguments import DashedArgumentCommand


@click.command(cls=DashedArgumentCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("ident")
@click.option("--json", "as_json", is_flag=True)
@click.option("--data-dir", default=None)
def show(ident: str, as_json: bool, data_dir: str | None) -> None:
    click.echo(f"{ident}|{as_json}|{data_dir}")


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(show, list(args))


@pytest.mark.parametrize(
    ("args", "printed"),
    [
        (["-dEOBO5hjsonx"], "-dEOBO5hjsonx|False|None"),  # "h" would print the help
        (["-dEOBO5", "--json"], "-dEOBO5|True|None"),
        (["--json", "-dEOBO5"], "-dEOBO5|True|None"),
        (["--Xy9_k-Q"], "--Xy9_k-Q|False|None"),
        (["--data-dir", "-state", "-dEOBO5"], "-dEOBO5|False|-state"),
        (["--data-dir=-state", "-dEOBO5"], "-dEOBO5|False|-state"),
        (["--json", "--", "-dEOBO5"], "-dEOBO5|True|None"),
        (["GRID_001"], "GRID_001|False|None"),
        (["-"], "-|False|None"),
    ],
)
def test_words_that_are_no_option_are_arguments(args: list[str], printed: str) -> None:
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert result.output == printed + "\n"


def test_help_and_mistyped_options_still_behave_as_options() -> None:
    assert run("-h").output.startswith("Usage:")
    assert run("x1y", "--help").output.startswith("Usage:")
    for typo in ("--jsn", "-x"):
        result = run("-dEOBO5", typo)
        assert result.exit_code == 2
        assert f"No such option '{typo}'" in result.output
