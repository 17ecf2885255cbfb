"""The console command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

import apiharness
from apiharness.cli import cli


def test_help_lists_the_pitch() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "pytest -p apiharness" in result.output


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"apiharness, version {apiharness.__version__}"


def test_console_script_is_installed() -> None:
    exe = shutil.which("apiharness", path=str(Path(sys.executable).parent))
    assert exe is not None
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert apiharness.__version__ in out.stdout


def test_unknown_command_fails_with_usage() -> None:
    result = CliRunner().invoke(cli, ["frobnicate"])
    assert result.exit_code == 2
    assert "No such command" in result.output
