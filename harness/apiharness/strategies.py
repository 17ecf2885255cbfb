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
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from apiharness.errors import ConfigurationError
from apiharness.upstream import Behaviour, close, reset, status

__all__ = ["TRANSIENT_FAULTS", "fault_sequences"]

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
