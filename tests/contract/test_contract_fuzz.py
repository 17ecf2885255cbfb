"""The client fuzzer: its oracle, shrinking, the report, async and loopback clients, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from apiharness import ConfigurationError, FuzzFailure, ResponseValidationError
from apiharness.cli import cli
from apiharness.contract import FuzzTarget, build_models, fuzz_client, validate_model

PAYMENTS = Path(__file__).parents[2] / "fixtures" / "openapi" / "payments.yaml"
MODELS = build_models(PAYMENTS)


def careful(target: FuzzTarget) -> Any:
    """A client that validates what it gets: the behaviour the fuzzer should accept."""
    response = target.http.get("/charges/ch_abcdef")
    return validate_model(MODELS.Charge, response.content)


def naive(target: FuzzTarget) -> int:
    """Trusts the body: KeyError, TypeError or JSONDecodeError on bad data."""
    charge = target.http.get("/charges/ch_abcdef").json()
    return int(charge["amount"]) + len(charge["currency"])


def trusting(target: FuzzTarget) -> Any:
    """Never raises on a body that is JSON: silent success with garbage."""
    try:
        return target.http.get("/charges/ch_abcdef").json()
    except ValueError as exc:
        raise ResponseValidationError("not JSON") from exc


def test_careful_client_passes_and_every_violation_is_served() -> None:
    report = fuzz_client(
        PAYMENTS, "getCharge", careful, raises=ResponseValidationError, max_examples=200
    )
    assert report.valid > 0, report.format()
    # Hypothesis does not draw kinds uniformly; in one run most kinds, and a wire fault, appear.
    assert {"truncated_json", "not_json"} & set(report.invalid), report.format()
    assert len(report.invalid) >= 5, report.format()
    assert "valid" in report.format()


def test_a_seeded_run_fuzzes_the_same_bodies_in_every_process() -> None:
    # String hashing differs per process (PYTHONHASHSEED); a set's order once leaked into
    # the drawn bodies, so the same seed gave different runs in different xdist workers.
    code = textwrap.dedent(
        f"""
        from apiharness.contract import build_models, fuzz_client, validate_model
        models = build_models({str(PAYMENTS)!r})
        seen = []
        def client(target):
            response = target.http.get("/charges/ch_abcdef")
            seen.append(response.content)
            return validate_model(models.Charge, response.content)
        fuzz_client({str(PAYMENTS)!r}, "getCharge", client, raises=Exception, max_examples=40)
        print(seen)
        """
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(hash_seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hash_seed in (1, 2, 3)
    }
    assert len(runs) == 1
    assert runs.pop().count("b'") >= 40  # every example reached the client


def test_naive_client_fails_with_the_smallest_response() -> None:
    with pytest.raises(FuzzFailure) as info:
        fuzz_client(PAYMENTS, "getCharge", naive, raises=ResponseValidationError, max_examples=60)
    message = str(info.value)
    assert message.startswith("getCharge -> 200: the client")
    assert "INVALID response (" in message  # with the violation and where it is
    assert "body:" in message
    assert isinstance(info.value, AssertionError)


def test_silent_success_with_garbage_is_a_failure() -> None:
    with pytest.raises(FuzzFailure, match="accepted an INVALID response"):
        fuzz_client(
            PAYMENTS, "getCharge", trusting, raises=ResponseValidationError, max_examples=60
        )


def test_raising_on_valid_responses_is_a_failure() -> None:
    def grumpy(target: FuzzTarget) -> None:
        target.http.get("/charges/ch_abcdef")
        raise ResponseValidationError("never happy")

    with pytest.raises(FuzzFailure, match="on a VALID response"):
        fuzz_client(
            PAYMENTS,
            "getCharge",
            grumpy,
            raises=ResponseValidationError,
            invalid=False,
            max_examples=5,
        )


def test_async_clients_and_loopback() -> None:
    async def careful_async(target: FuzzTarget) -> Any:
        async with httpx.AsyncClient(base_url=target.base_url) as http:
            response = await http.get("/cards/card_abcdef")
        return validate_model(MODELS.Card, response.content)

    report = fuzz_client(
        PAYMENTS,
        "getCard",
        careful_async,
        raises=ResponseValidationError,
        loopback=True,
        max_examples=15,
    )
    assert report.valid + sum(report.invalid.values()) >= 15


def test_declaration_errors() -> None:
    with pytest.raises(ConfigurationError, match="raises="):
        fuzz_client(PAYMENTS, "getCharge", careful, raises=())
    with pytest.raises(ConfigurationError, match="nothing to fuzz"):
        fuzz_client(PAYMENTS, "getCharge", careful, raises=ValueError, valid=False, invalid=False)


def test_fuzz_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fuzzme.py").write_text(
        textwrap.dedent(f"""
        from apiharness.contract import build_models, validate_model
        MODELS = build_models({str(PAYMENTS)!r})

        class PaymentsError(Exception):
            pass

        def careful(target):
            return validate_model(MODELS.Card, target.http.get("/cards/card_abcdef").content)

        def naive(target):
            return target.http.get("/cards/card_abcdef").json()["brand"].upper()
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    runner = CliRunner()
    args = [
        "fuzz",
        str(PAYMENTS),
        "getCard",
        "--raises",
        "apiharness:ResponseValidationError",
        "--max-examples",
        "25",
    ]
    ok = runner.invoke(cli, [*args, "--call", "fuzzme:careful"])
    assert ok.exit_code == 0, ok.output
    assert "no failure" in ok.output
    bad = runner.invoke(cli, [*args, "--call", "fuzzme:naive"])
    assert bad.exit_code == 1
    assert "getCard -> 200" in bad.output
    missing = runner.invoke(cli, [*args, "--call", "fuzzme:absent"])
    assert missing.exit_code == 2
    sys.modules.pop("fuzzme", None)
