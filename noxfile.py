"""The suite on every Python apiharness supports: ``make pythons`` (CI runs it too).

``make pytest`` runs the suite in ``.venv`` (the machine's ``python3``, 3.11 on CI); the sessions
here install the package with its ``dev`` extra into a fresh virtualenv per interpreter and run
the same suite. A missing interpreter is an error, not a skip: a green run must mean the suite
passed on every version that pyproject's classifiers name.
"""

from __future__ import annotations

import nox

# Keep in step with the "Programming Language :: Python :: 3.x" classifiers (a test checks).
PYTHONS = ["3.11", "3.12", "3.13"]

nox.options.error_on_missing_interpreters = True
nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Install ``.[dev]`` (not editable: the installed package is what runs) and run the suite."""
    session.install(".[dev]")
    pytest = ("python", "-m", "pytest", "-n", "auto", "-q", "-p", "no:cacheprovider")
    # The examples-from-the-wheel tests build and install the wheel: `make docs-examples`.
    session.run(*pytest, "-m", "not wheel", *session.posargs)
