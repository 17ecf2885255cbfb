"""Shared data of the contract tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

OPENAPI = Path(__file__).parents[2] / "fixtures" / "openapi"


@pytest.fixture
def card() -> dict[str, Any]:
    """A getCard 200 body that the payments spec accepts."""
    return {
        "id": "card_abc123",
        "brand": "visa",
        "last4": "4242",
        "exp_month": 12,
        "exp_year": 2030,
        "holder_name": None,
    }


@pytest.fixture
def charge_pact(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A pact apiharness exported from the payments spec mock (its rules come from the schema),
    and the charge the mock served."""
    import httpx

    from apiharness.contract import PactWriter, example_spec
    from apiharness.upstream import Upstream

    up = Upstream()
    up.from_spec(example_spec("payments"), seed=5)
    served = httpx.Client(transport=up, base_url=up.base_url).get("/charges/ch_abcdef123").json()
    writer = PactWriter("shop", "payments")
    assert writer.add(up) == 1
    return writer.write(tmp_path / "exported"), served
