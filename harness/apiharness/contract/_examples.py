"""The example OpenAPI descriptions that ship inside the package.

The documentation's examples load them, so they run from an installed wheel in any folder;
the project's tests use the same files (``fixtures/openapi/`` links to them).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from apiharness.errors import SpecError

__all__ = ["EXAMPLE_SPECS", "example_spec"]

#: The names :func:`example_spec` accepts, with what each description shows.
EXAMPLE_SPECS = {
    "payments": "OpenAPI 3.0: cards, charges with Idempotency-Key, refunds, webhook endpoints "
    "and events, problem+json errors, cursor pagination, nullable and oneOf fields",
    "users-items": "OpenAPI 3.1: users and items, with $refs into a second file (common.yaml)",
}


def example_spec(name: str) -> Path:
    """The path of an example OpenAPI description shipped with apiharness.

    Pass it wherever a spec is taken (``load_spec``, ``Upstream.from_spec``, ``fuzz_client``,
    the ``apiharness mock`` command)::

        from apiharness.contract import example_spec, load_spec

        spec = load_spec(example_spec("payments"))

    Names: ``"payments"`` and ``"users-items"`` (see :data:`EXAMPLE_SPECS`).
    """
    if name not in EXAMPLE_SPECS:
        known = ", ".join(repr(known) for known in EXAMPLE_SPECS)
        raise SpecError(f"example_spec({name!r}): no such example description; use one of {known}")
    # Installed from a wheel or a source tree, the package is a plain folder on disk.
    return Path(str(resources.files("apiharness.contract") / "examples" / f"{name}.yaml"))
