"""httpx and httpx2 are each optional: apiharness builds its own objects with the one installed
(httpx where both are), refuses to import with advice when neither is, and supports
``httpx2.alias_httpx()`` (``import httpx`` then *is* httpx2, and apiharness runs on it)."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from apiharness import _stacks


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_home_stack_is_httpx_where_installed_else_httpx2() -> None:
    expected = "httpx" if importlib.util.find_spec("httpx") else "httpx2"
    assert _stacks.httpx.__name__ == expected
    assert _stacks.installed_stacks()[0].__name__ == expected


def test_without_either_stack_the_import_says_which_extras_to_install() -> None:
    # None in sys.modules makes an import fail, as an uninstalled package would.
    done = run(
        "import sys; sys.modules['httpx'] = sys.modules['httpx2'] = None\n"
        "import apiharness.upstream"
    )
    assert done.returncode != 0
    assert "ConfigurationError" in done.stderr
    assert "pip install 'apiharness[httpx]' or 'apiharness[httpx2]'" in done.stderr


def test_alias_httpx_runs_the_harness_on_httpx2() -> None:
    pytest.importorskip("httpx2")
    done = run(
        "import httpx2; httpx2.alias_httpx()\n"
        "import httpx\n"
        "from apiharness import VirtualClock, use_clock, _stacks\n"
        "from apiharness.clients import ResilientTransport, RetryPolicy\n"
        "from apiharness.upstream import Upstream, reset, respond\n"
        "assert _stacks.httpx is httpx2 and _stacks.installed_stacks() == [httpx2]\n"
        "up = Upstream()\n"
        "up.get('/a').respond(reset(), respond(200, json=[1]))\n"
        "transport = ResilientTransport(up, retry=RetryPolicy(max_attempts=2))\n"
        "with use_clock(VirtualClock()):\n"
        "    response = httpx.Client(transport=transport, base_url=up.base_url).get('/a')\n"
        "assert type(response) is httpx2.Response, type(response)\n"
        "assert [e.status for e in up.journal] == [None, 200]\n"
        "with up.serve() as server:\n"
        "    assert httpx.get(server.base_url + '/a').json() == [1]\n"
    )
    assert done.returncode == 0, done.stderr


def test_stack_classes_are_known_by_identity_not_by_their_module_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    httpx = pytest.importorskip("httpx")

    class Mine(httpx.BaseTransport):
        pass

    # openai 2 sets __module__ = "openai" on the httpx classes it re-exports, on import; the
    # full suite (which imports openai) once failed IdempotencyTransport(Mine()) on that.
    monkeypatch.setattr(httpx.BaseTransport, "__module__", "openai")
    monkeypatch.setattr(httpx.Request, "__module__", "openai")
    assert _stacks.is_transport(Mine())
    assert _stacks.stack_of(httpx.Request("GET", "https://api.test/")) is httpx
    assert not _stacks.is_transport(object())


# Where a stack's (or its add-on's) module may be imported at run time: everywhere else the
# package takes its stack from apiharness._stacks, so a project with either stack alone imports
# every module. Imports under ``if TYPE_CHECKING:`` are for annotations and do not count.
_STACK_IMPORTS_ALLOWED = {
    "_stacks.py": {"httpx", "httpx2"},
    "clients/_sse.py": {"httpx_sse", "httpx2"},  # each stack's SSE parser, chosen per response
}


def _runtime_imports(tree: ast.AST) -> Iterator[str]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for child in node.orelse:
                yield from _runtime_imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]
        yield from _runtime_imports(node)


def test_only_the_stack_module_imports_a_stack() -> None:
    root = Path(_stacks.__file__).parent
    found = {}
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        stacks = set(_runtime_imports(ast.parse(path.read_text()))) & {
            "httpx",
            "httpx2",
            "httpx_sse",
        }
        if stacks - _STACK_IMPORTS_ALLOWED.get(name, set()):
            found[name] = sorted(stacks)
    assert len(list(root.rglob("*.py"))) > 50  # the package was found
    assert found == {}, "import the stack from apiharness._stacks instead"
