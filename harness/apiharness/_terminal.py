"""What every ``apiharness`` subcommand shares: exit codes, bad input, the terminal.

Progress and colour go through rich rather than hand-written ANSI codes: it already knows
``NO_COLOR``, ``FORCE_COLOR``, ``COLUMNS``, dumb terminals and pipes.

Exit codes are the same for every subcommand: 0 when all is well, 1 when the check found
something (a failing scenario, drift, a leak, a fuzz failure), 2 for bad input (an option, a
spec, a cassette, a module that does not import). Bad input is reported as one line saying what
is wrong and how to fix it, never a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import click

from apiharness.errors import ApiHarnessError

if TYPE_CHECKING:
    from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FINDINGS",
    "EXIT_OK",
    "BadInput",
    "Progress",
    "bad_input",
    "console",
    "print_report",
    "report_option",
    "writing",
]

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


def report_option(flag: str, dest: str, what: str) -> Callable[[F], F]:
    """A ``--json``/``--html``/``--junit PATH`` option: also write a report there."""
    return click.option(flag, dest, type=click.Path(dir_okay=False), metavar="PATH", help=what)


@contextlib.contextmanager
def writing(path: str) -> Iterator[None]:
    """A report file that cannot be written is bad input (its path), not a traceback."""
    try:
        yield
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror or exc}; choose another path") from None


# -- the terminal -------------------------------------------------------------------------------
#
# rich decides what the terminal can take: colour only on a terminal and never with NO_COLOR
# set, the width from COLUMNS, no live display (progress bars, spinners) when the output is a
# file or a pipe. Progress goes to stderr so that stdout stays the report a script can read.


def console(*, stderr: bool = False) -> Console:
    """A rich console for stdout (reports) or stderr (progress)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def print_report(text: str) -> None:
    """Print a plain-text report to stdout, PASS/FAIL and findings coloured where allowed."""
    from rich.text import Text

    out = console()
    rendered = Text(text)
    rendered.highlight_regex(r"\bPASS\b|\bok\b", "bold green")
    rendered.highlight_regex(r"\bFAIL\b|\bWRONG\b", "bold red")
    rendered.highlight_regex(r"^apiharness[^\n]*", "bold")
    out.print(rendered, end="", crop=False, overflow="ignore", no_wrap=True)


class Progress:
    """Ticks of a long command on stderr: a live bar on a terminal, plain lines elsewhere.

    ``tick(line)`` advances by one and, with ``line``, prints it above the bar (or as a plain
    line when there is no bar). ``status(text)`` updates the bar's description; without a bar
    nothing is printed for it, so CI logs get one line per tick at most.
    """

    def __init__(self, description: str, total: int | None = None) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn
        from rich.progress import Progress as Bar

        self.console = console(stderr=True)
        self.live = self.console.is_terminal and not self.console.is_dumb_terminal
        columns = [SpinnerColumn(), TextColumn("{task.description}")]
        if total is not None:
            columns += [BarColumn(), MofNCompleteColumn()]
        self._bar = Bar(*columns, console=self.console, transient=True, disable=not self.live)
        self._task = self._bar.add_task(description, total=total)

    def __enter__(self) -> Progress:
        self._bar.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._bar.stop()

    def tick(self, line: str | None = None, *, style: str = "") -> None:
        self._bar.advance(self._task)
        if line is not None:
            self.console.print(line, style=style, highlight=False, markup=False)

    def status(self, description: str) -> None:
        self._bar.update(self._task, description=description)

    def say(self, line: str) -> None:
        """A line on stderr whatever the terminal (beside the bar when there is one)."""
        self.console.print(line, highlight=False, markup=False)
