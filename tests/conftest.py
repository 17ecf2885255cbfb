"""Shared test configuration.

The suite dogfoods the plugin: pyproject's addopts pass ``-p apiharness``, so the project's own
tests use the same fixtures users get (``clock``, ``upstream`` ...), loaded the way users load
them, whether or not plugin autoload is on. Plugin *behaviour* (options, markers, loading and
disabling) is tested separately in fresh inner sessions with pytester (tests/test_plugin.py),
which is where ``-p no:apiharness`` and the autoload switches are exercised.
"""

from __future__ import annotations

from types import ModuleType

import pytest
from hypothesis import settings

pytest_plugins = ["pytester"]

# Hypothesis' per-example deadline measures speed, not correctness; on a loaded 2-core CI
# machine it fails examples at random. Properties here assert behaviour; speed is measured in
# benchmarks/. print_blob lets a failure be replayed exactly.
settings.register_profile("apiharness", deadline=None, print_blob=True)
settings.load_profile("apiharness")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--corpora",
        action="store_true",
        default=False,
        help="Also run the slow real-world corpora (tests marked `corpus`); `make corpora`.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "corpus: grades real third-party libraries; slow, run with --corpora"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--corpora"):
        return
    skip = pytest.mark.skip(reason="a slow real-world corpus: run with --corpora (make corpora)")
    for item in items:
        if item.get_closest_marker("corpus") is not None:
            item.add_marker(skip)


@pytest.fixture(params=["httpx", "httpx2"])
def stack(request: pytest.FixtureRequest) -> ModuleType:
    """The HTTP stack a test runs on, once per stack; httpx2 only where it is installed
    (`make httpx2`: mitmproxy's h11 pin keeps it out of .venv)."""
    return pytest.importorskip(request.param)
