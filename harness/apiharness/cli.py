"""The ``apiharness`` command.

A thin face over the subpackages, built on click. Subcommands import what they need lazily so
that ``apiharness --help`` stays fast and works without the optional extras.
"""

from __future__ import annotations

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
