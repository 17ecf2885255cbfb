"""In-process request cost through httpx2 beside httpx, in one run (``make bench-httpx2``).

Four contenders take turns round by round: each stack's bare ``MockTransport`` (the floor: a
handler that returns a canned response) and the apiharness ``Upstream`` as that stack's
transport, one route, sequential ``GET`` through one client. The ratio that matters is each
Upstream row against its own stack's bare row.

httpx2 cannot be installed beside mitmproxy (h11 pins; see noxfile.py), so in ``.venv`` this
topic prints nothing; the nox session ``bench_httpx2`` runs it where httpx2 is installed.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from types import ModuleType
from typing import Any

from apiharness.upstream import Upstream, respond
from benchmarks._common import Table, median_time
from benchmarks.bench_upstream import BASE, PAYLOAD, _interleaved

BARE_HTTPX = "httpx MockTransport (bare)"


def _transports(stack: ModuleType) -> dict[str, Any]:
    up = Upstream(base_url=BASE)
    up.get("/r0").respond(respond(200, json=PAYLOAD))
    name = stack.__name__
    return {
        f"{name} MockTransport (bare)": stack.MockTransport(
            lambda request: stack.Response(200, json=PAYLOAD)
        ),
        f"{name} + apiharness Upstream": up,
    }


def in_process(smoke: bool) -> list[Table]:
    import httpx
    import httpx2  # type: ignore[import-not-found, unused-ignore]  # only in `make bench-httpx2`

    requests = 100 if smoke else 10_000
    table = Table(
        f"in-process, httpx and httpx2: {requests:,} sequential requests, one route",
        "µs per request",
        baseline=BARE_HTTPX,
        target="each Upstream within 1.3x of its own stack's bare MockTransport",
    )
    runs: dict[str, Callable[[], None]] = {}
    for stack in (httpx, httpx2):
        for name, transport in _transports(stack).items():
            http = stack.Client(transport=transport, base_url=BASE)
            median_time(functools.partial(http.get, "/r0"), repeat=20)  # warm up

            def run(http: Any = http) -> None:
                for _ in range(requests):
                    http.get("/r0")

            runs[name] = run
    for name, seconds in _interleaved(runs, rounds=2 if smoke else 5).items():
        table.add(name, seconds / requests * 1e6)
    ours = Table(
        "in-process: Upstream relative to its own stack's bare MockTransport (same run)",
        "ratio Upstream / bare",
        baseline="httpx",
        target="both at most 1.3",
    )
    for name in ("httpx", "httpx2"):
        bare = table.value_of(f"{name} MockTransport (bare)")
        ours.add(name, table.value_of(f"{name} + apiharness Upstream") / bare)
    return [table, ours]


def run(smoke: bool) -> list[Table]:
    """The tables of this topic; none where httpx2 is not installed (.venv)."""
    if importlib.util.find_spec("httpx2") is None:
        print("   httpx2 is not installed here: `make bench-httpx2` runs this topic (nox)")
        return []
    return in_process(smoke)
