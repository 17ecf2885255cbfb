"""The package's public surface: names, version, error tree, and a light import."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
import tomllib
import types
from importlib.metadata import version
from pathlib import Path

import apiharness
from apiharness import _pytest_plugin, errors

ROOT = Path(__file__).parents[1]
HEAVY = ("mitmproxy", "schemathesis", "vcr")


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(apiharness).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    plugin_surface = set(_pytest_plugin.__all__)
    assert sorted(public - plugin_surface) == sorted(set(apiharness.__all__) - {"__version__"})
    assert len(apiharness.__all__) == len(set(apiharness.__all__))


def test_plugin_surface_is_reexported() -> None:
    for name in _pytest_plugin.__all__:
        assert getattr(apiharness, name) is getattr(_pytest_plugin, name)


def test_version_comes_from_metadata() -> None:
    assert apiharness.__version__ == version("apiharness")


def test_import_is_light() -> None:
    code = (
        "import sys, apiharness; "
        f"print(','.join(m for m in {HEAVY!r} if any(k == m or k.startswith(m + '.') "
        "for k in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"import apiharness pulled in heavy modules: {out}"


def test_one_root_and_every_error_is_in_the_drawn_tree() -> None:
    classes = [
        obj
        for obj in vars(errors).values()
        if inspect.isclass(obj) and issubclass(obj, Exception) and obj.__module__ == errors.__name__
    ]
    assert {c.__name__ for c in classes} == set(errors.__all__)
    doc = errors.__doc__ or ""
    for cls in classes:
        assert issubclass(cls, errors.ApiHarnessError)
        assert cls.__name__ in doc, f"{cls.__name__} is missing from the tree in errors.py"
        assert cls.__doc__, f"{cls.__name__} has no docstring"
    for name in errors.__all__:
        assert getattr(apiharness, name) is getattr(errors, name)


def test_py_typed_ships() -> None:
    assert Path(apiharness.__file__).with_name("py.typed").is_file()


def test_plugin_names_never_shadow_submodules() -> None:
    import pkgutil

    modules = {info.name for info in pkgutil.iter_modules(apiharness.__path__)}
    assert not modules & set(_pytest_plugin.__all__)
    for name in modules:
        module = importlib.import_module(f"apiharness.{name}")
        assert getattr(apiharness, name) is module, f"apiharness.{name} is shadowed"


def test_the_supported_pythons_agree_everywhere() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    classified = sorted(
        classifier.rsplit(" :: ", 1)[1]
        for classifier in project["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", classifier)
    )
    noxfile = ast.parse((ROOT / "noxfile.py").read_text())
    (pythons,) = (
        ast.literal_eval(node.value)
        for node in noxfile.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PYTHONS"
    )
    assert classified == pythons
    assert project["requires-python"] == f">={pythons[0]}"


def test_lazy_plugin_surface_matches_the_plugin_module() -> None:
    assert frozenset(_pytest_plugin.__all__) == apiharness._PLUGIN_SURFACE
