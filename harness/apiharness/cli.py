"""The ``apiharness`` command.

A thin face over the subpackages, built on click. Subcommands import what they need lazily so
that ``apiharness --help`` stays fast and works without the optional extras.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from apiharness import __version__
from apiharness._io import atomic_write
from apiharness._terminal import (
    EXIT_FINDINGS,
    EXIT_OK,
    BadInput,
    Progress,
    bad_input,
    print_report,
    report_option,
    writing,
)

__all__ = ["cli", "main"]

# Subcommands by name -> "module:attribute" of their click command, imported only when run
# (or when --help lists them). Add one line per subcommand.
LAZY_COMMANDS = {
    "check-pact": "apiharness.contract._cli:check_pact_command",
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
@report_option("--json", "json_path", "Also write the scorecard as JSON.")
@report_option(
    "--html",
    "html_path",
    "Also write a self-contained HTML scorecard with a timeline per scenario.",
)
@report_option(
    "--junit", "junit_path", "Also write the scorecard as JUnit XML (a test case per scenario)."
)
@click.option(
    "-s", "--scenario", "scenarios", multiple=True, help="Run only this scenario (repeatable)."
)
@click.option(
    "-c",
    "--catalogue",
    default="default",
    show_default=True,
    metavar="NAME",
    help="The catalogue to grade against (apiharness grade --list-catalogues names them).",
)
@click.option(
    "--list-catalogues", is_flag=True, help="List the catalogues and their scenarios, then exit."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for random faults.")
@click.option(
    "-v", "--verbose", is_flag=True, help="Show the journal of every failing scenario's attempts."
)
def grade(  # noqa: PLR0917 - click passes each option as an argument
    factory: str,
    json_path: str | None,
    html_path: str | None,
    junit_path: str | None,
    scenarios: tuple[str, ...],
    catalogue: str,
    list_catalogues: bool,
    seed: int,
    verbose: bool,
) -> None:
    """Grade a client against the conformance catalogue and print its scorecard.

    FACTORY builds the client's adapter for a base URL, e.g. myproject.conformance:make_client.
    A line per scenario on stderr as it runs; the scorecard on stdout. Exits 0 when every
    scenario passes, 1 when one fails, 2 on bad input.
    """
    from apiharness.conformance import Scorecard, load_factory, run_scenario, select

    if list_catalogues:
        _print_catalogues()
        return
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # so the user's project imports as it does in pytest
    card = Scorecard()
    with bad_input():
        chosen = select(scenarios or None, catalogue=catalogue)
        make = load_factory(factory)
        with Progress(f"grading {factory}", total=len(chosen)) as progress:
            for scenario in chosen:
                progress.status(f"grading {factory}: {scenario.id}")
                result = run_scenario(scenario, make, client=factory, seed=seed)
                card.extend([result])
                mark, style = ("✓", "green") if result.passed else ("✗", "red")
                progress.tick(f"{mark} {scenario.id} ({result.wall_seconds:.1f} s)", style=style)
    print_report(card.render(verbose=verbose))
    for path, write in (
        (json_path, card.write_json),
        (html_path, card.write_html),
        (junit_path, card.write_junit),
    ):
        if path:
            with writing(path):
                write(path)
    sys.exit(EXIT_OK if card.ok else EXIT_FINDINGS)


def _print_catalogues() -> None:
    from apiharness.conformance import CATALOGUE_MODULES, load_catalogue

    lines = []
    for name, (_, description) in CATALOGUE_MODULES.items():
        lines.append(f"{name}: {description}")
        lines.extend(
            f"  {scenario.id}: {scenario.statement}" for scenario in load_catalogue(name).values()
        )
    print_report("\n".join(lines))


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
@report_option(
    "--json", "json_path", "Also write the findings as JSON (secrets named, never their values)."
)
def check_cassettes(
    arguments: tuple[str, ...],
    secrets: bool,
    secret_vars: tuple[str, ...],
    no_env: bool,
    json_path: str | None,
) -> None:
    """Check recorded VCR.py cassettes (files, or folders searched recursively).

    \b
    With an OpenAPI description first (SPEC, a path or URL): drift — every interaction must use
    a documented operation and status code with a valid body.
        apiharness check-cassettes openapi.yaml cassettes/
    With --secrets: the secret-leak gate — no secret value, in any encoding, in any cassette.
        apiharness check-cassettes --secrets cassettes/
    Both can run at once; --json also writes what was found. Exits 0 when all is well, 1 on
    drift or a leak, 2 on bad input (no cassettes, an unreadable one, a bad spec).
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
    files = _check_readable(paths)
    report: dict[str, Any] = {
        "version": 1,
        "cassettes": [str(f) for f in files],
        "drift": None,
        "secrets": None,
    }
    ok = True
    if spec is not None:
        from apiharness.contract._cli import drift_check

        drift = drift_check(spec, paths)
        ok = drift.ok
        report["drift"] = {
            "spec": spec,
            "interactions": drift.interactions,
            "issues": [{**asdict(i), "kind": i.kind.value} for i in drift.issues],
        }
    if secrets:
        from apiharness.recording._cli import leak_check

        _, in_play, leaks = leak_check(paths, secret_vars, no_env)
        ok = ok and not leaks
        report["secrets"] = {"in_play": in_play, "leaks": [asdict(leak) for leak in leaks]}
    report["ok"] = ok
    if json_path:
        with writing(json_path):
            atomic_write(json_path, json.dumps(report, indent=2, sort_keys=True) + "\n")
    if not ok:
        raise SystemExit(EXIT_FINDINGS)


def _check_readable(paths: tuple[Path, ...]) -> list[Path]:
    """Bad input before any check: no cassette at all, or one the player could not read."""
    from apiharness.errors import CassetteError
    from apiharness.recording._cassette import CASSETTE_SUFFIXES, Cassette, cassette_files

    with bad_input():
        files = list(cassette_files(paths))
    if not files:
        suffixes = ", ".join(sorted(CASSETTE_SUFFIXES))
        raise BadInput(
            f"no cassettes found in {', '.join(map(str, paths))} (looked for {suffixes} "
            "files, recursively); record some with `apiharness record` or pytest's "
            "--apiharness-record-mode=once, or name the folder they are in"
        )
    problems = []
    for file in files:
        try:
            Cassette.load(file)
        except CassetteError as exc:
            problems.append(str(exc))
    if problems:
        raise BadInput("\n".join(problems))
    return files


def main() -> None:
    """Entry point of the console script."""
    cli(prog_name="apiharness")
