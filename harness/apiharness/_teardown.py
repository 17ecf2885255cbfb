"""Teardown checks that do not pile a second error onto a test that already failed.

Fixtures verify at teardown (unmatched requests, unmet ``expect=`` counts, errors from the
server thread). When the test itself has already failed, those findings are usually the
explanation, not a second problem: reported as an error too they would count the test twice
and push its own failure out of view. So after a failed setup or call, :func:`check_at_teardown`
shows what the checks found in a teardown section printed with the test's failure
("Captured apiharness teardown") instead of raising.

The plugin marks failed tests in ``pytest_runtest_makereport`` (:data:`FAILED_KEY`); a module
of its own so that the subpackages' fixtures need not import the plugin.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apiharness.errors import ApiHarnessError

__all__ = ["FAILED_KEY", "check_at_teardown"]

FAILED_KEY = pytest.StashKey[bool]()


def check_at_teardown(request: pytest.FixtureRequest, *checks: Callable[[], None]) -> None:
    """Run ``checks`` in order; raise the first failure, or, if the test already failed, show
    every failure beside the test's own."""
    node = request.node
    if not node.stash.get(FAILED_KEY, False) or not isinstance(node, pytest.Item):
        for check in checks:
            check()
        return
    found = []
    for check in checks:
        try:
            check()
        except ApiHarnessError as exc:
            found.append(f"{type(exc).__name__}: {exc}")
    if found:
        node.add_report_section("teardown", "apiharness", "\n\n".join(found))
