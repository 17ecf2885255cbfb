"""The ``apiharness`` command.

A thin face over the subpackages, built on click. Subcommands import what they need lazily so
that ``apiharness --help`` stays fast and works without the optional extras.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path

import click

from apiharness import __version__

__all__ = ["cli", "main"]

# Subcommands by name -> "module:attribute" of their click command, imported only when run
# (or when --help lists them). Add one line per subcommand.
LAZY_COMMANDS = {
    "fuzz": "apiharness.contract._cli:fuzz_command",
    "mock": "apiharness.contract._cli:mock_command",
    "record": "apiharness.recording._cli:record_command",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            module, _, attribute = LAZY_COMMANDS[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


_SPEC_KEY = re.compile(rb"""^\s*["']?(openapi|swagger)["']?\s*:""", re.MULTILINE)


def _is_spec(argument: str) -> bool:
    """Whether the first argument of check-cassettes names an OpenAPI description."""
    if argument.startswith(("http://", "https://")):
        return True
    path = Path(argument)
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        return _SPEC_KEY.search(handle.read(4096)) is not None


@cli.command("check-cassettes")
@click.argument("arguments", nargs=-1, required=True, metavar="[SPEC] PATHS...")
@click.option("--secrets", is_flag=True, help="Fail if a secret value occurs in any cassette.")
@click.option(
    "--secret",
    "secret_vars",
    multiple=True,
    metavar="ENV_VAR",
    help="With --secrets: also treat this environment variable's value as a secret.",
)
@click.option(
    "--no-env",
    is_flag=True,
    help="With --secrets: only the --secret variables, not every secret-looking one.",
)
def check_cassettes(
    arguments: tuple[str, ...], secrets: bool, secret_vars: tuple[str, ...], no_env: bool
) -> None:
    """Check recorded VCR.py cassettes (files, or folders searched recursively).

    \b
    With an OpenAPI description first (SPEC, a path or URL): drift — every interaction must use
    a documented operation and status code with a valid body.
        apiharness check-cassettes openapi.yaml cassettes/
    With --secrets: the secret-leak gate — no secret value, in any encoding, in any cassette.
        apiharness check-cassettes --secrets cassettes/
    Both can run at once. Exits 1 on drift or a leak, 2 on bad input.
    """
    spec = arguments[0] if _is_spec(arguments[0]) else None
    paths = tuple(Path(a) for a in arguments[1 if spec else 0 :])
    if spec is None and not secrets:
        raise click.UsageError(
            "say what to check: an OpenAPI description first (drift), and/or --secrets "
            "(the secret-leak gate)"
        )
    missing = [str(p) for p in paths if not p.exists()]
    if not paths or missing:
        raise click.UsageError(f"no such cassette file or folder: {', '.join(missing) or '-'}")
    ok = True
    if spec is not None:
        from apiharness.contract._cli import drift_check

        ok = drift_check(spec, paths)
    if secrets:
        from apiharness.recording._cli import leak_check

        leak_check(paths, secret_vars, no_env)
    if not ok:
        raise SystemExit(1)


def main() -> None:
    """Entry point of the console script."""
    cli(prog_name="apiharness")
