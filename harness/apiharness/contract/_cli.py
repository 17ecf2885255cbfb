"""The contract commands of ``apiharness``: ``check-cassettes`` (and, with the mocked upstream,
``mock`` and ``fuzz``). Heavy imports happen inside the commands, not at registration."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["check_cassettes_command"]


def _load(spec: str) -> object:
    from apiharness.contract._spec import load_spec
    from apiharness.errors import SpecError

    try:
        return load_spec(spec)
    except SpecError as exc:
        raise click.BadParameter(str(exc), param_hint="SPEC") from None


@click.command("check-cassettes")
@click.argument("spec")
@click.argument("cassettes", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def check_cassettes_command(spec: str, cassettes: tuple[Path, ...]) -> None:
    """Check recorded VCR.py cassettes against an OpenAPI description (drift).

    SPEC is a path or URL of an OpenAPI 3.0/3.1 description; CASSETTES are cassette files or
    folders (searched recursively). Exits 1 when an interaction uses an undocumented
    operation or status code or has an invalid body, 0 when all agree.

        apiharness check-cassettes fixtures/openapi/payments.yaml cassettes/
    """
    from apiharness.contract._drift import check_cassettes
    from apiharness.contract._spec import Spec

    loaded = _load(spec)
    assert isinstance(loaded, Spec)
    report = check_cassettes(loaded, *cassettes)
    click.echo(report.format())
    if not report.ok:
        raise SystemExit(1)
