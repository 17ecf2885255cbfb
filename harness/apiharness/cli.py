"""The ``apiharness`` command.

A thin face over the subpackages, built on click. Subcommands import what they need lazily so
that ``apiharness --help`` stays fast and works without the optional extras.
"""

from __future__ import annotations

import os
import sys

import click

from apiharness import __version__

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="apiharness")
def cli() -> None:
    """apiharness: mock misbehaving upstreams, record and replay real APIs, check contracts,
    and grade HTTP clients against failure scenarios.

    Most of apiharness runs inside pytest: `pytest -p apiharness`.
    """


@cli.command()
@click.argument("factory", metavar="MODULE:FACTORY")
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), help="Also write the scorecard as JSON."
)
@click.option(
    "-s", "--scenario", "scenarios", multiple=True, help="Run only this scenario (repeatable)."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for random faults.")
def grade(factory: str, json_path: str | None, scenarios: tuple[str, ...], seed: int) -> None:
    """Grade a client against the conformance catalogue and print its scorecard.

    FACTORY builds the client's adapter for a base URL, e.g. myproject.conformance:make_client.
    Exits 0 only when every scenario passes.
    """
    from apiharness.conformance import grade as run_grade
    from apiharness.errors import ConformanceError

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # so the user's project imports as it does in pytest
    try:
        card = run_grade(factory, scenarios=scenarios or None, seed=seed)
    except ConformanceError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(card.render(), nl=False)
    if json_path:
        card.write_json(json_path)
    sys.exit(0 if card.ok else 1)


# Subcommands live in their subpackages; their modules import heavy things only when run.
from apiharness.contract._cli import (  # noqa: E402
    check_cassettes_command,
    fuzz_command,
    mock_command,
)

cli.add_command(check_cassettes_command)
cli.add_command(fuzz_command)
cli.add_command(mock_command)


def main() -> None:
    """Entry point of the console script."""
    cli(prog_name="apiharness")
