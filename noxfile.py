"""The suite on every Python apiharness supports: ``make pythons`` (CI runs it too).

``make pytest`` runs the suite in ``.venv`` (the machine's ``python3``, 3.11 on CI); the sessions
here install the package with its ``dev`` extra into a fresh virtualenv per interpreter and run
the same suite. A missing interpreter is an error, not a skip: a green run must mean the suite
passed on every version that pyproject's classifiers name.
"""

from __future__ import annotations

import os
from pathlib import Path

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


# The httpx2 stack and the SDKs built on it. httpx2's httpcore2 needs h11>=0.16 while mitmproxy
# 11.0.2 (the newest release; the `record` extra) pins h11<=0.14, so they cannot share .venv:
# this session installs the package without `record`. The tests that need httpx2 skip in .venv.
HTTPX2_DEPS = [
    "httpx2>=2.16,<3",
    # openai 3 and anthropic 2 are the first releases on httpx2 (earlier ones use httpx).
    "openai>=3.57,<4",
    "anthropic>=2.14,<3",
    "pytest-xdist>=3.5",
    # Plain vcrpy replays the httpx2-recorded cassettes with httpx and requests.
    "vcrpy>=7",
    "requests>=2.31",
]


# mitmdump records httpx2 traffic from .venv's environment (`make lint` or any target creates
# it): appended to PATH, after this session's own bin, and required by the recording tests.
def _with_mitmdump(session: nox.Session) -> dict[str, str]:
    venv_bin = Path(".venv/bin").resolve()
    path = os.pathsep.join([session.bin, os.environ.get("PATH", ""), str(venv_bin)])
    return {"PATH": path, "APIHARNESS_NEED_MITMDUMP": "1"}


# What the httpx2 stack touches: the in-process upstream (and its equivalence with the socket),
# the SDKs against it, the reference clients, recording and the cassette player.
HTTPX2_TESTS = [
    "tests/httpx2_stack",
    "tests/upstream/test_upstream_equivalence.py",
    "tests/recording/test_recording_player.py",
]


@nox.session(python="3.11")
def httpx2(session: nox.Session) -> None:
    """The httpx2 parts of the suite beside httpx, in a venv without mitmproxy."""
    session.install(".[httpx,httpx2,https]", *HTTPX2_DEPS)
    pytest = ("python", "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider")
    session.run(*pytest, *HTTPX2_TESTS, env=_with_mitmdump(session))


@nox.session(python="3.11")
def httpx2_only(session: nox.Session) -> None:
    """The same tests where httpx2 is the only stack: httpx is not installed at all (the
    suite's httpx-only run is `make pytest`: .venv has no httpx2)."""
    session.install(".[httpx2,https]", *HTTPX2_DEPS)
    session.run("python", "-c", "import importlib.util as u; assert not u.find_spec('httpx')")
    pytest = ("python", "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider")
    session.run(*pytest, *HTTPX2_TESTS, env=_with_mitmdump(session))


@nox.session(python="3.11")
def bench_httpx2(session: nox.Session) -> None:
    """``python -m benchmarks httpx2``: httpx2 beside httpx, in one run (posargs: --smoke)."""
    session.install(".[httpx,httpx2,https]", *HTTPX2_DEPS)
    session.run("python", "-m", "benchmarks", *session.posargs, "httpx2")
