"""``"module:attribute"`` names, as options and commands take them, resolved with advice.

One place for the mistakes people make naming their own code: a file path instead of a module
name, a module that is not on ``sys.path``, a module that does not even compile.
"""

from __future__ import annotations

import importlib
import traceback

from apiharness.errors import ApiHarnessError

__all__ = ["import_object"]


def import_object(spec: str, *, what: str, error: type[ApiHarnessError]) -> object:
    """Import ``"package.module:attribute"`` (the attribute may be dotted) and return it.

    ``what`` names the thing for the message (``"client factory"``); every failure raises
    ``error`` saying what is wrong and how to fix it.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise error(
            f"cannot read {what} {spec!r}: write it as 'module:callable' (or 'module:Class'), "
            "e.g. 'myproject.testing:make_client'"
        )
    if not all(part.isidentifier() for part in module_name.split(".")):
        raise error(
            f"{what} {spec!r}: {module_name!r} is not a module name. Name the module as Python "
            "imports it, dotted and without '.py' or folders (e.g. 'mods.x:make_client' for "
            "mods/x.py), and run from the folder that contains it or add that folder to "
            "PYTHONPATH"
        )
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        where = f"{exc.filename}, line {exc.lineno}" if exc.filename else module_name
        raise error(
            f"cannot import {module_name!r} for {what} {spec!r}: {where}: {exc.msg}; "
            "fix the syntax error and run again"
        ) from None
    except ImportError as exc:
        raise error(
            f"cannot import {module_name!r} for {what} {spec!r}: {exc}; is the module on "
            "sys.path (run from your project root, or set PYTHONPATH)?"
        ) from None
    except Exception as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        raise error(
            f"importing {module_name!r} for {what} {spec!r} raised {type(exc).__name__}: {exc} "
            f"({frame.filename}, line {frame.lineno}); fix the module so it imports cleanly"
        ) from None
    found: object = module
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise error(
                f"module {module_name!r} has no attribute {attribute!r} ({what} {spec!r})"
            ) from None
    return found
