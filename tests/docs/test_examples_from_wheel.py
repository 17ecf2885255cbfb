"""Every Python example in README.md and docs/ runs as written, from the built wheel.

A newcomer copies an example into an empty folder of a project that installed the wheel with
its extras. So does this test: it builds the wheel once, installs it with every extra into a
fresh virtualenv, and runs each example there in an empty folder of its own, never on the
source tree. An example that defines tests is a test module, run with
``pytest -p apiharness``; any other is a script, run with ``python``. Afterwards the folder
holds nothing the example did not announce (pytest's and Hypothesis' own caches aside).

pytest-examples finds the code blocks; a block's fence may say ``requires="pkg other"``
(installed beside the wheel; the page must say so in its text) or ``test="skip"`` (a fragment
of a larger program, e.g. a function of the reader's own client; the page must say so).

Slow (a wheel build and an install, about a minute or two): marked ``wheel``, run by
``make docs-examples`` and by CI, left out of ``make pytest``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from pytest_examples import CodeExample, find_examples

ROOT = Path(__file__).parents[2]
EXTRAS = "httpx,record,openapi,https,http2"
# What running an example may leave behind besides the example's own file.
CACHES = {"__pycache__", ".pytest_cache", ".hypothesis"}

EXAMPLES = [
    example
    for example in find_examples(ROOT / "README.md", ROOT / "docs")
    if example.prefix_settings().get("test") != "skip"
]

pytestmark = pytest.mark.wheel


def _run(*command: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def wheel_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh virtualenv holding the built wheel, its extras and what examples
    declare in ``requires=``."""
    build_dir = tmp_path_factory.mktemp("wheel")
    built = _run(sys.executable, "-m", "build", "--wheel", "--outdir", build_dir, ROOT, cwd=ROOT)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = build_dir.glob("apiharness-*.whl")
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    required = sorted(
        {
            package
            for example in EXAMPLES
            for package in example.prefix_settings().get("requires", "").split()
        }
    )
    installed = _run(
        python, "-m", "pip", "install", "--quiet", f"{wheel}[{EXTRAS}]", *required, cwd=env_dir
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return python


def test_examples_were_found() -> None:
    # A moved README or a changed fence syntax must not turn this file into zero tests.
    assert len([e for e in EXAMPLES if e.path.name == "README.md"]) >= 3
    assert len(EXAMPLES) >= 12


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_example_runs_from_the_wheel(
    example: CodeExample, wheel_python: Path, tmp_path: Path
) -> None:
    is_test_module = "\ndef test_" in "\n" + example.source or "\nasync def test_" in example.source
    name = f"test_{example.module_name}.py" if is_test_module else f"{example.module_name}.py"
    name = name.replace("-", "_")
    (tmp_path / name).write_text(example.source)
    if is_test_module:
        result = _run(wheel_python, "-m", "pytest", "-p", "apiharness", "-q", name, cwd=tmp_path)
    else:
        result = _run(wheel_python, name, cwd=tmp_path)
    assert result.returncode == 0, f"{example} failed:\n{result.stdout}\n{result.stderr}"
    left = {path.name for path in tmp_path.iterdir()} - {name} - CACHES
    assert not left, f"{example} left {sorted(left)} in the working folder"
