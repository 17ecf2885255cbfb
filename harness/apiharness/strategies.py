"""Public Hypothesis strategies for testing API clients.

``fault_sequences()`` draws sequences of transient upstream faults — the chaos a resilient
client must ride out::

    from hypothesis import given
    from apiharness.strategies import fault_sequences
    from apiharness.upstream import respond

    @given(faults=fault_sequences(max_faults=3))
    def test_survives(faults, upstream):
        upstream.get("/x").respond(*faults, respond(200, json={}))
        ...

``response_bodies()`` and ``invalid_response_bodies()`` draw response bodies from an OpenAPI
description. Valid bodies always validate against the operation's response schema; invalid
ones always fail it, each tagged with the :class:`Violation` it commits (see
:mod:`apiharness.contract._generate` for how they are made, and why not with
hypothesis-jsonschema)::

    from apiharness.strategies import invalid_response_bodies, response_bodies

    @given(response_bodies("openapi.yaml", "getCharge"))
    def test_my_client_parses_every_charge(body): ...

    @given(invalid_response_bodies("openapi.yaml", "getCharge"))
    def test_my_client_rejects_garbage(bad):
        print(bad.violation, bad.path, bad.content)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

from apiharness.contract._bodies import invalid_response_bodies, response_bodies
from apiharness.contract._generate import SchemaStrategies
from apiharness.contract._mutate import InvalidBody, Violation
from apiharness.errors import ConfigurationError
from apiharness.upstream import Behaviour, close, reset, status

__all__ = [
    "TRANSIENT_FAULTS",
    "InvalidBody",
    "Violation",
    "fault_sequences",
    "from_schema",
    "invalid_response_bodies",
    "response_bodies",
]

#: The kinds of transient fault ``fault_sequences`` draws from, by name.
TRANSIENT_FAULTS: dict[str, st.SearchStrategy[Behaviour]] = {
    "500": st.just(status(500)),
    "502": st.just(status(502)),
    "503": st.just(status(503)),
    "504": st.just(status(504)),
    "429": st.integers(min_value=0, max_value=5).map(lambda s: status(429, retry_after=s)),
    "503-retry-after": st.integers(min_value=0, max_value=5).map(
        lambda s: status(503, retry_after=s)
    ),
    "reset": st.just(reset()),
    "close": st.just(close()),
}


def fault_sequences(
    *, min_faults: int = 0, max_faults: int = 3, kinds: Sequence[str] | None = None
) -> st.SearchStrategy[list[Behaviour]]:
    """Lists of ``min_faults`` to ``max_faults`` transient faults, in any order.

    ``kinds`` restricts them to names in :data:`TRANSIENT_FAULTS` (all by default). Shrinks
    towards fewer faults and towards the first kind listed.
    """
    names = list(TRANSIENT_FAULTS) if kinds is None else list(kinds)
    unknown = [name for name in names if name not in TRANSIENT_FAULTS]
    if unknown or not names:
        raise ConfigurationError(
            f"fault_sequences(kinds=...) got {unknown or 'nothing'}; "
            f"choose from {', '.join(TRANSIENT_FAULTS)}"
        )
    if not 0 <= min_faults <= max_faults:
        raise ConfigurationError(
            f"fault_sequences needs 0 <= min_faults <= max_faults, got {min_faults}, {max_faults}"
        )
    fault = st.one_of(*(TRANSIENT_FAULTS[name] for name in names))
    return st.lists(fault, min_size=min_faults, max_size=max_faults)


def from_schema(schema: Mapping[str, Any] | bool) -> st.SearchStrategy[Any]:
    """Values a standalone JSON Schema (2020-12, local ``$ref``s only) accepts."""
    from jsonschema import Draft202012Validator

    uri = "urn:apiharness:schema"
    document: Any = schema if isinstance(schema, bool) else dict(schema)

    def lookup(target: str) -> Any:
        from apiharness.contract._loader import pointer_parts

        node = document
        for part in pointer_parts(target.partition("#")[2]):
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    validator = Draft202012Validator(document)
    return SchemaStrategies(lookup).for_schema(document, uri).filter(validator.is_valid)
