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
