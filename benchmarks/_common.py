"""Shared measuring and reporting for the benchmark modules.

A benchmark module is ``benchmarks/bench_<topic>.py`` with a ``run(smoke: bool) -> list[Table]``
function. ``python -m benchmarks [--smoke] [topic ...]`` runs them and prints each table with
medians and the ratio of every row to the table's baseline row. ``--smoke`` shrinks sizes so that
CI only proves the benchmarks work; figures worth quoting come from a full run.
"""

from __future__ import annotations

import contextlib
import gc
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Row", "Table", "median_time", "render", "serve_uvicorn"]


@dataclass
class Row:
    """One contender: its name and a measured value (lower is better unless the table says)."""

    name: str
    value: float
    note: str = ""


@dataclass
class Table:
    """A comparison: rows measured side by side in one run, one of them the baseline."""

    title: str
    unit: str
    baseline: str
    rows: list[Row] = field(default_factory=list)
    higher_is_better: bool = False
    target: str = ""

    def add(self, name: str, value: float, note: str = "") -> None:
        self.rows.append(Row(name, value, note))

    def value_of(self, name: str) -> float:
        return next(row.value for row in self.rows if row.name == name)


def median_time(func: Callable[[], object], *, repeat: int = 5, number: int = 1) -> float:
    """Median wall seconds of ``number`` calls of ``func``, over ``repeat`` rounds, per call."""
    samples = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        for _ in range(number):
            func()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


def render(table: Table) -> str:
    """The table as aligned text, each row with its ratio to the baseline."""
    base = table.value_of(table.baseline)
    width = max(len(row.name) for row in table.rows)
    target = f"; target: {table.target}" if table.target else ""
    lines = [f"## {table.title}", f"   unit: {table.unit}{target}"]
    for row in table.rows:
        ratio = row.value / base if base else float("nan")
        marker = " (baseline)" if row.name == table.baseline else ""
        note = f"  {row.note}" if row.note else ""
        lines.append(f"   {row.name:<{width}}  {row.value:>12.3f}  {ratio:>7.2f}x{marker}{note}")
    return "\n".join(lines)


@contextlib.contextmanager
def serve_uvicorn(app: Any, http: str) -> Iterator[str]:
    """``app`` under uvicorn with the ``http`` parser named (not "auto": with httptools
    installed, auto picks it), in a thread, on a TCP_NODELAY loopback socket; yields the origin."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="off", http=http)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.001)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
