"""What every ``apiharness`` subcommand shares: exit codes, bad input, the terminal.

Exit codes are the same for every subcommand: 0 when all is well, 1 when the check found
something (a failing scenario, drift, a leak, a fuzz failure), 2 for bad input (an option, a
spec, a cassette, a module that does not import). Bad input is reported as one line saying what
is wrong and how to fix it, never a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click

from apiharness.errors import ApiHarnessError

__all__ = ["EXIT_BAD_INPUT", "EXIT_FINDINGS", "EXIT_OK", "BadInput", "bad_input"]

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2


class BadInput(click.ClickException):
    """Bad input to a command: ``Error: <what and how to fix>`` and exit status 2.

    click's own usage errors exit 2 too, but print the usage text, which does not help with a
    broken spec or cassette.
    """

    exit_code = EXIT_BAD_INPUT


@contextlib.contextmanager
def bad_input(
    kinds: type[ApiHarnessError] | tuple[type[ApiHarnessError], ...] = ApiHarnessError,
) -> Iterator[None]:
    """Report the harness' errors of ``kinds`` raised in the block as bad input (exit 2)."""
    try:
        yield
    except kinds as exc:
        raise BadInput(str(exc)) from None
