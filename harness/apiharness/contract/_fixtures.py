"""pytest fixtures of the contract part; re-exported by :mod:`apiharness._pytest_plugin`."""

from __future__ import annotations

from typing import Any, Protocol

import pytest

from apiharness._seed import seed_for

__all__ = ["schemathesis_check"]


class SchemathesisCheck(Protocol):
    def __call__(self, spec: Any, **options: Any) -> Any: ...


@pytest.fixture
def schemathesis_check(request: pytest.FixtureRequest) -> SchemathesisCheck:
    """Run Schemathesis against your server with the harness's defaults; fail on violations.

    Seeded from ``--apiharness-seed``. Takes the options of
    :func:`apiharness.contract.run_schemathesis`::

        def test_my_api_keeps_its_contract(schemathesis_check):
            schemathesis_check("openapi.yaml", app=my_asgi_app)
    """
    seed = seed_for(request.config)

    def check(spec: Any, **options: Any) -> Any:
        from apiharness.contract._schemathesis import assert_schemathesis

        options.setdefault("seed", seed)
        return assert_schemathesis(spec, **options)

    return check
