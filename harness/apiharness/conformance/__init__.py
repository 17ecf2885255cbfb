"""Conformance suite: grade any HTTP client against a catalogue of upstream failures.

Write a small adapter around your client and a factory that builds it for a base URL::

    # myproject/conformance.py
    import httpx
    from myproject.client import ApiClient, ApiError

    class Adapter:
        errors = (ApiError,)                 # the errors your client means to raise

        def __init__(self, base_url: str) -> None:
            self.client = ApiClient(base_url)

        def get(self, path: str) -> object:            # one logical, idempotent read
            return self.client.fetch(path)

        def create(self, path: str, body: dict) -> object:   # one logical POST
            return self.client.create(path, body)

        def close(self) -> None:
            self.client.close()

    def make_client(base_url: str) -> Adapter:
        return Adapter(base_url)

Then grade it — in pytest, one test item per scenario::

    pytest -p apiharness --apiharness-conformance=myproject.conformance:make_client

or from the command line, which prints the scorecard::

    apiharness grade myproject.conformance:make_client --json report.json

The default catalogue grades request/response behaviour; others (``apiharness grade
--list-catalogues``) are chosen with ``--catalogue NAME`` (pytest: ``--apiharness-catalogue``).

The adapter's methods may be coroutine functions (both of them). The canonical resource and its
JSON schema, which a good client validates, are :data:`RESOURCE` and :data:`RESOURCE_SCHEMA`.
Clients that sleep with ``time.sleep`` or ``asyncio.sleep`` run in virtual time.
"""

from apiharness.conformance._adapter import ClientAdapter, ClientFactory, load_factory
from apiharness.conformance._catalogue import (
    CATALOGUE,
    CATALOGUE_MODULES,
    Scenario,
    find_scenario,
    load_catalogue,
)
from apiharness.conformance._grader import grade, run_scenario, select
from apiharness.conformance._resource import RESOURCE, RESOURCE_PATH, RESOURCE_SCHEMA
from apiharness.conformance._scorecard import ScenarioResult, Scorecard

__all__ = [
    "CATALOGUE",
    "CATALOGUE_MODULES",
    "RESOURCE",
    "RESOURCE_PATH",
    "RESOURCE_SCHEMA",
    "ClientAdapter",
    "ClientFactory",
    "Scenario",
    "ScenarioResult",
    "Scorecard",
    "find_scenario",
    "grade",
    "load_catalogue",
    "load_factory",
    "run_scenario",
    "select",
]
