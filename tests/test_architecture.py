"""DESIGN.md's dependency rules, checked on the imports the package actually makes.

The graph is read from the source with :mod:`ast`: every ``import`` statement counts, at module
level, inside functions (lazy imports) and under ``TYPE_CHECKING`` alike, because each is a
dependency a reader must hold in their head. A second set of tests imports the library faces in
a fresh interpreter and looks at ``sys.modules``: what a production service pays for them.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

import apiharness

PACKAGE = Path(apiharness.__file__).parent

#: Subpackages and top-level modules, by the name DESIGN.md uses for them.
FACES = frozenset({"_pytest_plugin", "cli"})


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target`` (both dotted module names) inside ``function`` (or None).

    ``type_only``: under ``if TYPE_CHECKING:``, for annotations only; never run.
    """

    source: str
    target: str
    function: str | None
    line: int
    type_only: bool = False

    def __str__(self) -> str:
        where = f" in {self.function}()" if self.function else ""
        return f"{self.source}:{self.line}{where} -> {self.target}"


def _module_name(path: Path) -> str:
    parts = ["apiharness", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) in {
        "TYPE_CHECKING",
        "typing.TYPE_CHECKING",
    }


def _walk(tree: ast.AST) -> Iterator[tuple[ast.AST, str | None, bool]]:
    """Every node, with the innermost function around it (None at module level) and whether
    it sits under ``if TYPE_CHECKING:``."""
    stack: list[tuple[ast.AST, str | None, bool]] = [(tree, None, False)]
    while stack:
        node, function, type_only = stack.pop()
        yield node, function, type_only
        inner = node.name if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else function
        typed = type_only or _is_type_checking(node)
        stack.extend((child, inner, typed) for child in ast.iter_child_nodes(node))


def _targets(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    modules = _modules()
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in modules]
    base = node.module or ""
    if node.level:
        anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        base = ".".join([*anchor, *([node.module] if node.module else [])])
    submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
    # `from pkg import submodule` depends on the submodule; on pkg's __init__ only when it also
    # takes a name that is not a submodule.
    takes_names = len(submodules) < len(node.names)
    return submodules + ([base] if takes_names and base in modules else [])


@cache
def edges() -> tuple[Edge, ...]:
    found: list[Edge] = []
    for name, path in _modules().items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node, function, type_only in _walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.extend(
                    Edge(name, target, function, node.lineno, type_only)
                    for target in _targets(node, package)
                    if target != name
                )
    return tuple(sorted(found, key=str))


def part(module: str) -> str:
    """The part of the design a module belongs to: ``upstream``, ``clients``, ``errors`` ..."""
    return module.split(".")[1] if "." in module else "<root>"


def crossing(source: str, target: str) -> list[Edge]:
    return [e for e in edges() if part(e.source) == source and part(e.target) == target]


def test_the_graph_sees_lazy_and_type_checking_imports() -> None:
    # The rules below would pass vacuously if the reader missed imports inside functions.
    lazy = [e for e in edges() if e.function is not None]
    assert any(e.source == "apiharness.upstream._upstream" for e in lazy)
    assert len(_modules()) > 50


@pytest.mark.parametrize(("source", "target"), [("upstream", "clients"), ("clients", "upstream")])
def test_the_judge_and_the_reference_client_never_import_each_other(
    source: str, target: str
) -> None:
    assert crossing(source, target) == []


def test_no_subpackage_imports_the_plugin_or_the_cli() -> None:
    offenders = [
        e
        for e in edges()
        if part(e.target) in FACES and e.source != "apiharness" and part(e.source) not in FACES
    ]
    assert offenders == []
    # The package root reaches the plugin only lazily, for pytest (PEP 562).
    root = [e for e in edges() if e.source == "apiharness" and part(e.target) in FACES]
    assert [e.function for e in root] == ["_load_plugin"]


def test_errors_and_clock_stand_on_nothing_of_ours() -> None:
    assert [e for e in edges() if e.source == "apiharness.errors"] == []
    assert {e.target for e in edges() if e.source == "apiharness.clock"} <= {"apiharness.errors"}


def test_stores_import_no_subpackage() -> None:
    subpackages = {part(m) for m in _modules() if _modules()[m].name == "__init__.py"} - {"<root>"}
    offenders = [
        e
        for e in edges()
        if part(e.source) == "stores" and part(e.target) in subpackages - {"stores"}
    ]
    assert offenders == []


#: The one allowed upward reach (DESIGN.md): thin, lazy entry points on the upstream.
UPWARD_ENTRY_POINTS = frozenset({"from_spec", "from_cassette", "from_pact"})


def entry_point_reach(e: Edge) -> bool:
    """An import made by a from_* entry point, or naming the type one returns (type-only)."""
    return e.function in UPWARD_ENTRY_POINTS or (
        e.type_only and part(e.source) == "upstream" and part(e.target) in {"contract", "recording"}
    )


@pytest.mark.parametrize("higher", ["contract", "recording", "conformance", "strategies"])
def test_upstream_reaches_up_only_through_its_from_entry_points(higher: str) -> None:
    offenders = [e for e in crossing("upstream", higher) if not entry_point_reach(e)]
    assert offenders == []


def test_no_part_imports_another_parts_private_module() -> None:
    # Faces (the plugin and the CLI) wire private fixtures and commands in; the public
    # `strategies` module publishes contract's generators; the upward entry points are thin.
    def allowed(e: Edge) -> bool:
        return part(e.source) in FACES or part(e.source) == "strategies" or entry_point_reach(e)

    offenders = [
        str(e)
        for e in edges()
        if part(e.source) != part(e.target)
        and len(e.target.split(".")) > 2
        and e.target.split(".")[2].startswith("_")
        and not allowed(e)
    ]
    assert offenders == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


#: Cycles that remain, each with its reason. Anything else is a new cycle: break it.
NAMED_CYCLES: dict[tuple[str, ...], str] = {
    ("apiharness.upstream._behaviours", "apiharness.upstream._scripts"): (
        "one fault vocabulary in two modules: scripts are made of behaviours, and a "
        "behaviour's .times()/delay() wrap it in a script runner (lazily)"
    ),
    (
        "apiharness.upstream._http2",
        "apiharness.upstream._server",
        "apiharness.upstream._upstream",
    ): (
        "Upstream.serve() is the user's door to the loopback servers (HTTP/1.1, and HTTP/2 "
        "built on it), which carry out the upstream's plans (lazily imported: in-process use "
        "never loads a server)"
    ),
}


def test_module_cycles_are_none_or_named() -> None:
    graph: dict[str, set[str]] = {m: set() for m in _modules()}
    for e in edges():
        # The from_* entry points reach up on purpose, and annotations never run; every other
        # import must be acyclic.
        if not entry_point_reach(e) and not e.type_only:
            graph[e.source].add(e.target)
    cycles = {tuple(c): NAMED_CYCLES.get(tuple(c), "unnamed") for c in _cycles(graph)}
    unnamed = [c for c, reason in cycles.items() if reason == "unnamed"]
    assert unnamed == []
    assert set(cycles) == set(NAMED_CYCLES), "a named cycle is gone: remove it from the list"


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _cycles(graph) == [["a", "b", "c"]]


LIBRARY_FACES = ["apiharness.clients", "apiharness.webhooks", "apiharness.oauth"]
HARNESS_ONLY = ("pytest", "_pytest", "apiharness.upstream", "mitmproxy", "schemathesis", "vcr")


def _loaded_after(module: str) -> list[str]:
    code = f"import json, sys, time\nimport {module}\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded: list[str] = json.loads(out)
    return loaded


@pytest.mark.parametrize("module", LIBRARY_FACES)
def test_library_faces_load_no_test_harness(module: str) -> None:
    loaded = _loaded_after(module)
    heavy = [m for m in loaded if m.split(".")[0] in HARNESS_ONLY or m.startswith(HARNESS_ONLY)]
    assert heavy == [], f"import {module} loaded {heavy[:5]}"


def test_the_plugin_still_loads_when_pytest_lists_the_package() -> None:
    # pytest (pluggy) finds hooks with inspect.getattr_static after dir(): the lazy root must
    # bind them on dir(), or a wrapper hook is silently registered as a plain one.
    code = (
        "import inspect, apiharness\n"
        "assert 'pytest_runtest_makereport' in dir(apiharness)\n"
        "hook = inspect.getattr_static(apiharness, 'pytest_runtest_makereport')\n"
        "print(hook.pytest_impl['wrapper'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "True"
