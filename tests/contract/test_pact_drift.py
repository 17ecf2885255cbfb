"""The bi-directional check: pacts against the provider's OpenAPI description, no provider run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from apiharness.cli import cli
from apiharness.contract import DriftKind, check_pacts, example_spec

pytest.importorskip("pact")


def _pact_python_pact(
    folder: Path, charge: dict[str, object], path: str = "/charges/ch_abcdef123"
) -> Path:
    from pact import Pact

    pact = Pact("shop", "payments").with_specification("V4")
    (
        pact.upon_receiving("a charge")
        .with_request("GET", path)
        .will_respond_with(200)
        .with_body(charge, content_type="application/json")
    )
    pact.write_file(folder, overwrite=True)
    return folder / "shop-payments.json"


def test_a_pact_exported_from_the_spec_mock_agrees_with_the_spec(
    charge_pact: tuple[Path, dict[str, Any]],
) -> None:
    report = check_pacts(example_spec("payments"), charge_pact[0])
    assert report.ok, report.format()
    assert (report.cassettes, report.interactions) == (1, 1)
    assert "in 1 pact(s): no drift" in report.format()


def test_a_consumer_pact_that_expects_what_the_spec_forbids_drifts(
    charge_pact: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    charge = {**charge_pact[1], "amount": "a lot"}
    report = check_pacts(example_spec("payments"), _pact_python_pact(tmp_path, charge))
    [issue] = report.issues
    assert issue.kind is DriftKind.INVALID_BODY
    assert "amount" in issue.detail
    undocumented = _pact_python_pact(tmp_path, charge_pact[1], path="/refunds/r_1")
    assert check_pacts(example_spec("payments"), undocumented).issues[0].kind is (
        DriftKind.UNDOCUMENTED_OPERATION
    )


def test_the_command_exits_by_the_verdict(
    charge_pact: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    spec = str(example_spec("payments"))
    good = CliRunner().invoke(cli, ["check-pact", spec, str(charge_pact[0])])
    assert good.exit_code == 0, good.output
    bad = _pact_python_pact(tmp_path, {**charge_pact[1], "id": 5})
    drifted = CliRunner().invoke(cli, ["check-pact", spec, str(bad)])
    assert drifted.exit_code == 1
    assert "invalid body" in drifted.output
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"interactions": 3}))
    unreadable = CliRunner().invoke(cli, ["check-pact", spec, str(broken)])
    assert unreadable.exit_code == 1
    assert "unreadable pact" in unreadable.output
