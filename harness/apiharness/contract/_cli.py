"""The contract commands of ``apiharness``: ``mock``, ``fuzz``, and the drift half of
``check-cassettes``. Heavy imports happen inside the commands, not at registration."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from apiharness.contract._spec import Spec

__all__ = ["drift_check", "fuzz_command", "mock_command"]


def _load(spec: str) -> Spec:
    from apiharness.contract._spec import load_spec
    from apiharness.errors import SpecError

    try:
        return load_spec(spec)
    except SpecError as exc:
        raise click.BadParameter(str(exc), param_hint="SPEC") from None


def drift_check(spec: str, cassettes: tuple[Path, ...]) -> bool:
    """``apiharness check-cassettes SPEC PATHS``: print the drift report; True when none.

    An interaction drifts when it uses an undocumented operation or status code or has an
    invalid body. Registered by :mod:`apiharness.cli` with the secret-leak gate.
    """
    from apiharness.contract._drift import check_cassettes

    report = check_cassettes(_load(spec), *cassettes)
    click.echo(report.format())
    return report.ok


def _base_path(spec: Spec) -> str:
    from urllib.parse import urlsplit

    for server in spec.document.get("servers") or ():
        url = server.get("url") if isinstance(server, dict) else None
        if isinstance(url, str) and "{" not in url:
            return urlsplit(url).path.rstrip("/")
    return ""


@click.command("mock")
@click.argument("spec")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=0, type=click.IntRange(0, 65535), help="Port; 0 picks a free one.")
@click.option("--seed", default=0, type=int, show_default=True, help="Seed of generated bodies.")
@click.option("--no-validate", is_flag=True, help="Do not check requests against the description.")
def mock_command(spec: str, host: str, port: int, seed: int, no_validate: bool) -> None:
    """Serve an OpenAPI description as a mock API (like `prism mock`).

    Answers every operation with the spec's examples or bodies generated from its response
    schemas (seeded), checks requests (problem+json 400/422), prints the base URL, and runs
    until Ctrl-C or SIGTERM.

        apiharness mock openapi.yaml --port 4010
    """
    import signal
    import threading

    from apiharness.errors import ConfigurationError
    from apiharness.upstream import Upstream

    loaded = _load(spec)
    upstream = Upstream(base_url="http://apiharness.mock" + _base_path(loaded), seed=seed)
    upstream.from_spec(loaded, validate_requests=not no_validate)
    try:
        server = upstream.serve(host=host, port=port).start()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    # The URL alone on stdout (flushed), so scripts can read it; the rest goes to stderr.
    click.echo(server.base_url)
    sys.stdout.flush()
    click.echo(
        f"serving {len(loaded.operations)} operations of {loaded.title!r}; Ctrl-C stops", err=True
    )
    try:
        while not stop.wait(0.5):
            server.check()
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("stopped", err=True)


def _import(spec: str, what: str) -> object:
    """``module:attribute`` → the object, or a usage error saying what is wrong."""
    import importlib
    import os

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # the user's project imports as it does under pytest
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise click.BadParameter(f"{spec!r} is not module:attribute", param_hint=what)
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attribute)
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(f"cannot import {spec!r}: {exc}", param_hint=what) from None


@click.command("fuzz")
@click.argument("spec")
@click.argument("operation")
@click.option(
    "--call",
    "call_path",
    required=True,
    metavar="MODULE:FUNCTION",
    help="Function taking a FuzzTarget and calling your client.",
)
@click.option(
    "--raises",
    "raises_paths",
    required=True,
    multiple=True,
    metavar="MODULE:CLASS",
    help="An error type your client may raise on an invalid response (repeatable).",
)
@click.option("--status", type=int, default=None, help="Response status (default: first 2xx).")
@click.option("--max-examples", default=100, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--loopback", is_flag=True, help="Serve on 127.0.0.1 for non-httpx clients.")
def fuzz_command(
    *,
    spec: str,
    operation: str,
    call_path: str,
    raises_paths: tuple[str, ...],
    status: int | None,
    max_examples: int,
    seed: int,
    loopback: bool,
) -> None:
    """Fuzz a client with valid and invalid responses to OPERATION of SPEC.

    Exits 1 with the smallest response the client mishandles (an error on a valid response,
    an undeclared error, or silent success on an invalid one), 0 when it copes with all.

        apiharness fuzz payments.yaml getCharge --call myclient.fuzz:get_charge \\
            --raises myclient:PaymentsError
    """
    from apiharness.contract._fuzz import fuzz_client
    from apiharness.errors import FuzzFailure, SpecError

    call = _import(call_path, "--call")
    if not callable(call):
        raise click.BadParameter(f"{call_path!r} is not callable", param_hint="--call")
    raises = [_import(path, "--raises") for path in raises_paths]
    loaded = _load(spec)
    try:
        report = fuzz_client(
            loaded,
            operation,
            call,
            raises=raises,  # type: ignore[arg-type]  # checked by fuzz_client
            status=status,
            max_examples=max_examples,
            seed=seed,
            loopback=loopback,
        )
    except FuzzFailure as failure:
        click.echo(str(failure).split("\nFalsifying", 1)[0])
        raise SystemExit(1) from None
    except SpecError as exc:
        raise click.BadParameter(str(exc), param_hint="OPERATION") from None
    click.echo(f"{operation}: no failure; served {report.format()}")
