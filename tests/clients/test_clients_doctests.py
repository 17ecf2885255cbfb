"""The examples in the clients' docstrings run and say what they show."""

from __future__ import annotations

import doctest
import types

import pytest

from apiharness import _retry_after
from apiharness.clients import _retry
from apiharness.stores import _limiter


@pytest.mark.parametrize("module", [_retry, _retry_after, _limiter], ids=lambda m: m.__name__)
def test_docstring_examples(module: types.ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
