"""The contract commands of ``apiharness``: ``mock``, ``fuzz``, and the drift half of
``check-cassettes``. Heavy imports happen inside the commands, not at registration."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from apiharness._terminal import (
    EXIT_FINDINGS,
    BadInput,
    Progress,
    bad_input,
    report_option,
    writing,
)

if TYPE_CHECKING:
    from apiharness.contract._drift import DriftReport
    from apiharness.contract._fuzz import FuzzReport
    from apiharness.contract._spec import Spec

__all__ = ["check_pact_command", "drift_check", "fuzz_command", "mock_command"]


def _load(spec: str) -> Spec:
    from apiharness.contract._spec import load_spec

    with bad_input():
        return load_spec(spec)


def drift_check(spec: str, cassettes: tuple[Path, ...]) -> DriftReport:
    """``apiharness check-cassettes SPEC PATHS``: print the drift report and return it.

    An interaction drifts when it uses an undocumented operation or status code or has an
    invalid body. Registered by :mod:`apiharness.cli` with the secret-leak gate.
    """
    from apiharness.contract._drift import check_cassettes

    report = check_cassettes(_load(spec), *cassettes)
    click.echo(report.format())
    return report


@click.command("check-pact")
@click.argument("spec")
@click.argument("pacts", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def check_pact_command(spec: str, pacts: tuple[str, ...]) -> None:
    """Check pact files against an OpenAPI description (a bi-directional contract check).

    Every HTTP interaction must use a documented operation and status code, with a response
    body valid for the documented schema. Exits 0 when all agree, 1 on drift, 2 on bad input.

        apiharness check-pact openapi.yaml pacts/shop-payments.json
    """
    from apiharness.contract._drift import check_pacts

    with bad_input():
        report = check_pacts(_load(spec), *pacts)
    click.echo(report.format())
    if not report.ok:
        raise SystemExit(1)


def _base_path(spec: Spec) -> str:
    from urllib.parse import urlsplit

    for server in spec.document.get("servers") or ():
        url = server.get("url") if isinstance(server, dict) else None
        if isinstance(url, str) and "{" not in url:
            return urlsplit(url).path.rstrip("/")
    return ""


@click.command("mock")
@click.argument("spec", required=False)
@click.option(
    "--pact",
    "pact",
    metavar="FILE",
    help="Serve a pact file's HTTP interactions (with their matching rules) instead of a spec.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=0, type=click.IntRange(0, 65535), help="Port; 0 picks a free one.")
@click.option("--seed", default=0, type=int, show_default=True, help="Seed of generated bodies.")
@click.option("--no-validate", is_flag=True, help="Do not check requests against the description.")
def mock_command(
    *, spec: str | None, pact: str | None, host: str, port: int, seed: int, no_validate: bool
) -> None:
    """Serve an OpenAPI description, or a pact file, as a mock API (like `prism mock`).

    Answers every operation with the spec's examples or bodies generated from its response
    schemas (seeded), checks requests (problem+json 400/422), prints the base URL, and runs
    until Ctrl-C or SIGTERM. With --pact, answers each request with the first interaction it
    satisfies, and 404 with the reasons otherwise. Malformed requests are answered 400 (431,
    413, 408 past the server's limits) and never stop the mock. Exits 2 on bad input (a spec
    or pact that cannot be served, a port in use).

        apiharness mock openapi.yaml --port 4010
        apiharness mock --pact pacts/shop-inventory.json
    """
    import signal
    import threading

    from apiharness.errors import ConfigurationError, ServerThreadError
    from apiharness.upstream import Upstream

    if (spec is None) == (pact is None):
        with bad_input():
            raise ConfigurationError(
                "give an OpenAPI description (apiharness mock SPEC) or a pact file "
                "(apiharness mock --pact FILE), one of the two"
            )
    if pact is not None:
        upstream = Upstream(base_url="http://apiharness.mock", seed=seed)
        with bad_input():
            served = upstream.from_pact(pact)
        shown = f"{len(served.pact)} interactions of the pact {pact}"
    else:
        assert spec is not None
        loaded = _load(spec)
        upstream = Upstream(base_url="http://apiharness.mock" + _base_path(loaded), seed=seed)
        shown = f"{len(loaded.operations)} operations of {loaded.title!r}"
    with bad_input():
        if pact is None:
            upstream.from_spec(loaded, validate_requests=not no_validate)
        server = upstream.serve(host=host, port=port).start()
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    # The URL alone on stdout (flushed), so scripts can read it; the rest goes to stderr.
    click.echo(server.base_url)
    sys.stdout.flush()
    click.echo(f"serving {shown}; Ctrl-C stops", err=True)
    try:
        while not stop.wait(0.5):
            try:
                server.check()
            except ServerThreadError as exc:
                # Whatever a client sent, the mock keeps serving: the error was answered with
                # a 500 on that request; say what happened and go on.
                click.echo(f"apiharness mock: {exc}", err=True)
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("stopped", err=True)


def _import(spec: str, what: str) -> object:
    """``module:attribute`` → the object, or bad input (exit 2) saying what is wrong."""
    import os

    from apiharness._imports import import_object
    from apiharness.errors import ConfigurationError

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # the user's project imports as it does under pytest
    with bad_input():
        return import_object(spec, what=what, error=ConfigurationError)


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
@report_option(
    "--json",
    "json_path",
    "Also write the outcome as JSON: what was served, and the failure if any.",
)
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
    json_path: str | None,
) -> None:
    """Fuzz a client with valid and invalid responses to OPERATION of SPEC.

    Exits 1 with the smallest response the client mishandles (an error on a valid response,
    an undeclared error, or silent success on an invalid one), 0 when it copes with all,
    2 on bad input (the spec, the operation, --call or --raises).

        apiharness fuzz payments.yaml getCharge --call myclient.fuzz:get_charge \\
            --raises myclient:PaymentsError
    """
    from apiharness.contract._fuzz import fuzz_client
    from apiharness.errors import ConfigurationError, FuzzFailure, SpecError

    call = _import(call_path, "--call")
    if not callable(call):
        raise BadInput(f"--call {call_path!r} is not callable; name a function taking a FuzzTarget")
    raises = [_import(path, "--raises") for path in raises_paths]
    for path, kind in zip(raises_paths, raises, strict=True):
        if not (isinstance(kind, type) and issubclass(kind, BaseException)):
            raise BadInput(
                f"--raises {path!r} is a {type(kind).__name__}, not an exception class; name "
                "the error your client raises on a bad response, e.g. --raises myclient:ApiError"
            )
    loaded = _load(spec)
    progress = Progress(f"fuzzing {operation}", total=max_examples)

    progress_counts: list[FuzzReport | None] = [None]

    def on_example(counts: FuzzReport) -> None:
        # Hypothesis replays and shrinks past max_examples; the bar just stops at its end.
        progress_counts[-1] = counts
        progress.tick()
        progress.status(f"fuzzing {operation}: {counts.format()}")

    try:
        with progress, bad_input((ConfigurationError, SpecError)):  # FuzzFailure: a finding
            report = fuzz_client(
                loaded,
                operation,
                call,
                raises=raises,  # type: ignore[arg-type]  # checked above
                status=status,
                max_examples=max_examples,
                seed=seed,
                loopback=loopback,
                on_example=on_example,
            )
    except FuzzFailure as failure:
        click.echo(str(failure))
        _write_fuzz_json(json_path, spec, operation, progress_counts[-1], str(failure))
        raise SystemExit(EXIT_FINDINGS) from None
    click.echo(f"{operation}: no failure; served {report.format()}")
    _write_fuzz_json(json_path, spec, operation, report, None)


def _write_fuzz_json(
    path: str | None, spec: str, operation: str, served: FuzzReport | None, failure: str | None
) -> None:
    """``fuzz --json``: what was served (counts by kind) and the failure, if one was found."""
    import json

    from apiharness._io import atomic_write

    if not path:
        return
    counts = {
        "valid": served.valid if served else 0,
        "invalid": dict(served.invalid if served else {}),
    }
    report = {
        "version": 1,
        "spec": spec,
        "operation": operation,
        "ok": failure is None,
        "served": counts,
        "failure": failure,
    }
    with writing(path):
        atomic_write(path, json.dumps(report, indent=2, sort_keys=True) + "\n")
