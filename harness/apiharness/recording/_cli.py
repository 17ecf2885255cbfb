"""``apiharness record`` and ``apiharness check-cassettes --secrets``.

Imported lazily by :mod:`apiharness.cli`, so ``apiharness --help`` never loads this module.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import click

from apiharness._terminal import BadInput, Progress, bad_input
from apiharness.errors import ApiHarnessError, CassetteError, ConfigurationError, SecretLeakError
from apiharness.recording._cassette import cassette_files
from apiharness.recording._leaks import Leak, check_cassettes, secrets_from_env
from apiharness.recording._recorder import Recorder

__all__ = ["leak_check", "record_command"]


class _Stop(Exception):
    """SIGTERM arrived: stop recording as Ctrl-C would."""


@contextlib.contextmanager
def _sigterm_stops() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Stop

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command("record", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--cassette",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the VCR.py cassette (atomically, when recording ends).",
)
@click.option("--upstream", metavar="URL", help="Reverse-proxy mode: the API to record.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Port to listen on (0: any free)."
)
@click.option("--append", is_flag=True, help="Keep the cassette's interactions; add new ones.")
@click.option("--no-redact", is_flag=True, help="Record secrets as they are (not recommended).")
@click.option("--redact-header", multiple=True, metavar="NAME", help="Also redact this header.")
@click.option("--redact-param", multiple=True, metavar="NAME", help="Also redact this parameter.")
@click.option("--redact-field", multiple=True, metavar="NAME", help="Also redact this JSON field.")
@click.option(
    "--secret",
    "secret_vars",
    multiple=True,
    metavar="ENV_VAR",
    help="Also redact the value of this environment variable wherever it occurs.",
)
@click.option(
    "--upstream-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CA bundle to verify the API's TLS certificate with (e.g. a private CA).",
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def record_command(  # noqa: PLR0917 - click passes each option as an argument
    cassette: Path,
    upstream: str | None,
    port: int,
    append: bool,
    no_redact: bool,
    redact_header: tuple[str, ...],
    redact_param: tuple[str, ...],
    redact_field: tuple[str, ...],
    secret_vars: tuple[str, ...],
    upstream_ca: Path | None,
    command: tuple[str, ...],
) -> None:
    """Record HTTP(S) traffic through mitmproxy into a redacted VCR.py cassette.

    \b
    Reverse proxy in front of one API (prints the URL to point a client at):
        apiharness record --cassette api.yaml --upstream https://api.example.com
    Around a command (proxy and CA variables set for it; exits with its status):
        apiharness record --cassette api.yaml -- pytest tests/test_live.py

    Recording stops on Ctrl-C or SIGTERM, or when the command exits. Secrets are redacted
    where they sit (credential headers, secret parameters and fields) and then wherever else
    their values occur, in any encoding; so are --secret variables and environment variables
    whose names look secret. The cassette is checked for all of them before it is written.

    Exits 2 on bad input (an option, or with --append a cassette that cannot be read), 1 if
    mitmdump fails.
    """
    if (upstream is None) == (not command):
        raise click.UsageError(
            "give either --upstream URL (reverse proxy) or -- COMMAND [ARGS...], not both"
            if upstream
            else "give --upstream URL (reverse proxy) or -- COMMAND [ARGS...] to record around"
        )
    try:
        recorder = Recorder(
            cassette,
            upstream=upstream,
            port=port,
            redact=not no_redact,
            append=append,
            redact_headers=redact_header,
            redact_params=redact_param,
            redact_fields=redact_field,
            upstream_ca=upstream_ca,
            secrets=_from_env(secret_vars),
        )
        status = _run_command(recorder, command) if command else _run_reverse(recorder)
    except (ConfigurationError, CassetteError) as exc:
        raise BadInput(str(exc)) from None
    except ApiHarnessError as exc:  # mitmdump could not start or stopped badly
        raise click.ClickException(str(exc)) from None
    except _Stop:  # SIGTERM while mitmdump was still starting: nothing was recorded
        raise click.ClickException("stopped before recording started") from None
    sys.exit(status)


class _StopOnSignal:
    """SIGINT and SIGTERM for the reverse proxy: until it records, they raise :class:`_Stop`
    (nothing to keep); once it records, they only set ``event``, which the loop waits on.

    An exception raised by a signal can land anywhere, inside the progress display's locks
    too, and leave its refresh thread waiting forever (seen once under load: the command
    never exited). A flag can't.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.recording = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if not self.recording:
            raise _Stop
        self.event.set()


def _run_reverse(recorder: Recorder) -> int:
    stop = _StopOnSignal()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        recorder.start()
        try:
            stop.recording = True
            click.echo(
                f"apiharness: recording {recorder.upstream} at {recorder.base_url} (Ctrl-C to stop)"
            )
            sys.stdout.flush()
            with Progress(f"recording {recorder.upstream}") as progress:
                seen = 0
                while recorder.running and not stop.event.wait(0.2):
                    now = recorder.recorded
                    if now != seen:
                        seen = now
                        progress.status(f"recording {recorder.upstream}: {now} interaction(s)")
                        if not progress.live:
                            progress.say(f"apiharness: {now} interaction(s) recorded so far")
        finally:
            written = recorder.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(f"apiharness: wrote {_count(written)} to {written}")
    return 0


def _count(cassette: Path) -> str:
    from apiharness.recording._cassette import Cassette

    try:
        return f"{len(Cassette.load(cassette))} interaction(s)"
    except ApiHarnessError:
        return "the cassette"


def _run_command(recorder: Recorder, command: tuple[str, ...]) -> int:
    with _sigterm_stops():
        recorder.start()
        child: subprocess.Popen[bytes] | None = None
        try:
            try:
                child = subprocess.Popen(command, env=recorder.client_env())  # noqa: S603
            except OSError as exc:
                click.echo(f"apiharness: cannot run {command[0]!r}: {exc.strerror}", err=True)
                return 127
            while True:
                try:
                    return child.wait()
                except KeyboardInterrupt:
                    # The terminal sent SIGINT to the command too; let it finish.
                    continue
                except _Stop:
                    child.terminate()
        finally:
            written = recorder.stop()
            click.echo(f"apiharness: wrote {_count(written)} to {written}", err=True)


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _from_env(secret_vars: tuple[str, ...]) -> dict[str, str]:
    declared: dict[str, str] = {}
    for name in secret_vars:
        if not _ENV_NAME.match(name) or name not in os.environ:
            raise click.UsageError(f"--secret {name}: no such environment variable")
        declared[name] = os.environ[name]
    return declared


def leak_check(
    paths: tuple[Path, ...], secret_vars: tuple[str, ...], no_env: bool
) -> tuple[list[Path], int, list[Leak]]:
    """``apiharness check-cassettes --secrets``: the secret-leak gate.

    The values of environment variables whose names look secret (GITHUB_TOKEN, DB_PASSWORD, ...)
    and of each ``--secret ENV_VAR`` must not occur in a cassette: raw, URL-encoded, base64 or
    JSON-escaped. Values come from the environment, never the command line; findings name the
    variable, never the value. Prints the outcome; returns the files checked, how many secrets
    were in play and the leaks found. Bad input raises a click error (exit 2).
    """
    in_play = {**({} if no_env else secrets_from_env()), **_from_env(secret_vars)}
    try:
        with bad_input(ConfigurationError):
            files = check_cassettes(paths, in_play, use_env=False)
    except SecretLeakError as exc:
        click.echo(f"apiharness: {exc}")
        return (
            list(cassette_files(paths)),
            len(in_play),
            [leak for leak in exc.leaks if isinstance(leak, Leak)],
        )
    click.echo(f"apiharness: no secret in {len(files)} cassette(s) ({len(in_play)} secrets)")
    return files, len(in_play), []
