"""Judge ``apiharness mock`` (and, side by side, Prism) on public OpenAPI descriptions.

Each description under ``fixtures/openapi/public/`` is served by ``apiharness mock`` and run
under Schemathesis twice, as a user would judge a mock (see NOTES.md):

- valid requests: ``--mode positive --phases examples,fuzzing --checks
  response_schema_conformance,status_code_conformance,content_type_conformance``;
- invalid requests: ``--mode negative --phases examples,fuzzing --checks not_a_server_error``.

It prints one line per description and tool, "honest" or the failures found, and exits 1
when apiharness has any. ``--prism PATH`` (the ``prism`` executable of npm
``@stoplight/prism-cli``) runs ``prism mock`` on the same descriptions under the same checks;
without it only apiharness is judged (CI has no npm)::

    python tests/contract/corpus/run_specs.py --max-examples 25
    python tests/contract/corpus/run_specs.py --prism node_modules/.bin/prism
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PUBLIC = ROOT / "fixtures" / "openapi" / "public"
BIN = Path(sys.executable).parent

# The descriptions issue 20 names: @readme/oas-examples 8.2.2 and @octokit/openapi 23.0.2.
CORPUS = (
    *(
        f"oas-examples/3.0/{name}.json"
        for name in (
            "petstore",
            "petstore-expanded",
            "schema-types",
            "schema-validation",
            "schema-additional-properties",
            "discriminators",
            "polymorphism",
            "circular",
            "response-schemas",
            "http-status-codes",
            "star-trek",
            "uspto",
        )
    ),
    *(
        f"oas-examples/3.1/{name}.json"
        for name in ("petstore", "schema-types", "train-travel", "schema-validation-local")
    ),
    "octokit/api.github.com.trimmed.json",
)

# What no server can pass, named and applied to every tool alike (printed with the verdict).
EXCEPTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "oas-examples/3.0/http-status-codes.json": (
        ("--exclude-path", "/status/100"),
        "GET /status/100 left out: it documents only 100 Continue, which HTTP clients read "
        "past while they wait for a final status the description does not give",
    ),
    "oas-examples/3.1/schema-types.json": (
        ("--exclude-checks", "status_code_conformance"),
        "status_code_conformance left out: no operation documents a response (OpenAPI 3.1 "
        "allows that), and Schemathesis calls every status undocumented",
    ),
}

POSITIVE = (
    "--mode",
    "positive",
    "--checks",
    "response_schema_conformance,status_code_conformance,content_type_conformance",
)
NEGATIVE = ("--mode", "negative", "--checks", "not_a_server_error")
# The last line, e.g. "=== 6 failures, 1 error in 1.39s ===" or "=== Every selected operation
# was skipped ===".
_SUMMARY = re.compile(r"^=+ (.+?) =+$", re.MULTILINE)
_COUNT = re.compile(r"(\d+) (failure|error)s?")
_FAILURE = re.compile(r"^- (ST\d+ .*|.*)$", re.MULTILINE)


# Errors that say Schemathesis could not build requests for an operation (a schema nothing
# satisfies, a regex it cannot use, data it filters too much): about the description and the
# generator, not about the server. Shown, but they do not make a mock dishonest.
_NOT_THE_SERVER = ("Schema Error", "Failed Health Check", "Unsupported")


@dataclass
class Verdict:
    """What Schemathesis found for one description served by one tool."""

    failures: int = 0
    errors: int = 0
    untestable: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    note: str = ""

    @property
    def honest(self) -> bool:
        return not (self.failures or self.errors or self.note)

    def __str__(self) -> str:
        parts = []
        if self.failures:
            kinds = ", ".join(f"{k} x{n}" for k, n in sorted(self.kinds.items()))
            parts.append(f"{self.failures} failures ({kinds})")
        if self.errors:
            parts.append(f"{self.errors} errors")
        if self.note:
            parts.append(self.note)
        verdict = "; ".join(parts) if parts else "honest"
        if self.untestable:
            verdict += f" ({self.untestable} operations Schemathesis could not generate for)"
        return verdict


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _start_apiharness(spec: Path) -> tuple[subprocess.Popen[str], str | None]:
    process = subprocess.Popen(
        [str(BIN / "apiharness"), "mock", str(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    return process, line if line.startswith("http") else None


def _start_prism(prism: str, spec: Path) -> tuple[subprocess.Popen[str], str | None]:
    port = _free_port()
    process = subprocess.Popen(
        [prism, "mock", str(spec), "-h", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    ok = _wait_listening(port, process, timeout=60)
    return process, f"http://127.0.0.1:{port}" if ok else None


def _schemathesis(
    spec: Path, url: str, mode: tuple[str, ...], args: argparse.Namespace, extra: tuple[str, ...]
) -> str:
    command = [
        str(BIN / "schemathesis"),
        "run",
        str(spec),
        "--url",
        url,
        *mode,
        *(extra if mode is POSITIVE or "--exclude-path" in extra else ()),
        "--phases",
        "examples,fuzzing",
        "--max-examples",
        str(args.max_examples),
        "--seed",
        str(args.seed),
        "--generation-database",
        "none",
        "--request-timeout",
        "10",
        "--no-color",
        "--workers",
        "1",
    ]
    env = {**os.environ, "NO_COLOR": "1"}
    # Run from an empty folder: Schemathesis reads a schemathesis.toml from any parent folder
    # and writes .schemathesis/ into the current one.
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, cwd=args.workdir
    )
    return done.stdout + done.stderr


def _error_kinds(output: str) -> list[str]:
    """The kind line of each block in the ERRORS section ("Network Error", "Schema Error" …)."""
    section = re.search(r"^=+ ERRORS =+$(.*?)(?=^=+ [A-Z]+ =+$)", output, re.MULTILINE | re.DOTALL)
    if section is None:
        return []
    return re.findall(r"^_+ .+ _+\n(.+)$", section[1], re.MULTILINE)


def _tally(output: str, verdict: Verdict, log: Path | None) -> None:
    summary = _SUMMARY.findall(output)
    if not summary:
        verdict.note = "schemathesis printed no summary"
    for count, kind in _COUNT.findall(summary[-1] if summary else ""):
        if kind == "failure":
            verdict.failures += int(count)
    for kind in _error_kinds(output):
        if kind.startswith(_NOT_THE_SERVER):
            verdict.untestable += 1
        else:
            verdict.errors += 1
            verdict.kinds[kind] = verdict.kinds.get(kind, 0) + 1
    failures_block = output.split("\nFailures:\n", 1)
    if len(failures_block) == 2:
        for line in failures_block[1].split("\n\n", 1)[0].splitlines():
            match = re.match(r"\s*\S+ (.+): (\d+)$", line)
            if match:
                verdict.kinds[match[1]] = verdict.kinds.get(match[1], 0) + int(match[2])
    if log is not None and (summary and "No issues found" not in summary[-1]):
        with log.open("a", encoding="utf-8") as out:
            out.write(output)


def judge(tool: str, spec: Path, args: argparse.Namespace) -> Verdict:
    """Serve ``spec`` with ``tool``, run both Schemathesis modes, stop the server."""
    if tool == "apiharness":
        process, url = _start_apiharness(spec)
    else:
        process, url = _start_prism(args.prism, spec)
    verdict = Verdict()
    log = None
    if args.logs:
        log = Path(args.logs) / f"{tool}-{spec.stem}-{spec.parent.name}.log"
        log.unlink(missing_ok=True)
    try:
        if url is None:
            verdict.note = "did not start"
            if process.stderr is not None:
                verdict.note += ": " + process.stderr.read()[-300:].strip().replace("\n", " ")
            return verdict
        extra = EXCEPTIONS.get(spec.relative_to(PUBLIC).as_posix(), ((), ""))[0]
        for mode in (POSITIVE, NEGATIVE):
            _tally(_schemathesis(spec, url, mode, args, extra), verdict, log)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return verdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--prism", help="path of the prism executable; omit to skip Prism")
    parser.add_argument("--logs", help="folder for the Schemathesis output of failing runs")
    parser.add_argument("--only", help="run only descriptions whose path contains this")
    args = parser.parse_args(argv)
    if args.logs:
        Path(args.logs).mkdir(parents=True, exist_ok=True)
    args.workdir = tempfile.mkdtemp(prefix="apiharness-corpus-")
    tools = ["apiharness"] + (["prism"] if args.prism else [])
    honest = dict.fromkeys(tools, 0)
    specs = [name for name in CORPUS if args.only is None or args.only in name]
    started = time.monotonic()
    try:
        for name in specs:
            for tool in tools:
                began = time.monotonic()
                verdict = judge(tool, PUBLIC / name, args)
                honest[tool] += verdict.honest
                took = time.monotonic() - began
                print(f"{name:45} {tool + ':':12} {verdict} [{took:.0f} s]", flush=True)
    finally:
        shutil.rmtree(args.workdir, ignore_errors=True)
    for tool in tools:
        print(f"{tool}: {honest[tool]}/{len(specs)} honest")
    for name, (_, reason) in EXCEPTIONS.items():
        if name in specs:
            print(f"exception, {name}: {reason}")
    print(f"({time.monotonic() - started:.0f} s)")
    return 0 if honest["apiharness"] == len(specs) else 1


if __name__ == "__main__":
    sys.exit(main())
