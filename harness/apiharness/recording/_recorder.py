"""Drive a real ``mitmdump`` process with the recording addon.

:class:`Recorder` starts mitmdump on 127.0.0.1 (port 0 by default: the addon reports the port it
got), either as a reverse proxy in front of one API, or as a regular proxy that a command or a
test sends its traffic through. Stopping sends SIGTERM, on which mitmproxy runs the addon's
``done()`` and the cassette is written atomically. mitmdump's own flow log is silenced: it would
print URLs with secrets in them.

Each run works in a temporary folder (mitmproxy's CA key among its files when no ``confdir`` is
given) named ``apiharness-record-<pid>-...`` after the recording process. A recorder killed with
SIGKILL cannot remove its folder (its mitmdump still writes the cassette and stops, see
``vcr_parent_pid``), so the next :meth:`Recorder.start` removes the folders of recorders that
are gone, once their mitmdump is gone too.

Waiting for the process uses real time on purpose (:class:`apiharness.clock.SystemClock`): a
virtual clock installed by a test must not make a real process look as if it timed out.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from apiharness._scrub import scrub
from apiharness.clock import SystemClock
from apiharness.errors import ConfigurationError, RecordingError
from apiharness.recording._redact import Redactor

__all__ = ["SECRETS_VARIABLE", "Recorder", "mitmdump_executable", "sweep_stale_workdirs"]

SECRETS_VARIABLE = "APIHARNESS_RECORD_SECRETS"
"""The environment variable through which :class:`Recorder` hands declared secrets to mitmdump
(a JSON object, name -> value): never on its command line, which other users can read."""

_ADDON_SCRIPT = Path(__file__).with_name("_mitmdump_script.py")
_CA_NAME = "mitmproxy-ca-cert.pem"
_PROGRESS = "progress.json"  # beside the ready file, in the run's work folder
_WORKDIR_PREFIX = "apiharness-record-"
_WORKDIR = re.compile(re.escape(_WORKDIR_PREFIX) + r"(\d+)-")
_MITMDUMP_PID = "mitmdump.pid"  # in the work folder: the sweep keeps it while mitmdump lives


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (one that exited, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's (or no pid at all): not ours to judge
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): trust the signal
    return state.rpartition(")")[2].split()[:1] != ["Z"]


def sweep_stale_workdirs(folder: Path | None = None) -> list[Path]:
    """Remove the work folders that recorders killed without cleaning up left in ``folder``
    (default: the system's temp folder); returns those removed.

    A folder is stale when the recorder process named in it is gone and so is the mitmdump it
    started (which goes on writing the cassette after its parent's death). Never raises: a
    folder that cannot be removed is left for a later run.
    """
    removed: list[Path] = []
    try:
        candidates = list(Path(folder or tempfile.gettempdir()).glob(_WORKDIR_PREFIX + "*"))
    except OSError:
        return removed
    for path in candidates:
        match = _WORKDIR.match(path.name)
        try:
            # In a shared temp folder: only real folders of this user, never a symlink.
            info = path.lstat()
        except OSError:
            continue
        ours = stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
        if match is None or not ours or _alive(int(match.group(1))):
            continue
        try:
            proxy = int((path / _MITMDUMP_PID).read_text())
        except (OSError, ValueError):
            proxy = None
        if proxy is not None and _alive(proxy):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path)
    return removed


def mitmdump_executable() -> str:
    """The ``mitmdump`` of this interpreter's environment (else the one on PATH)."""
    beside = Path(sys.executable).with_name("mitmdump")
    if beside.exists():
        return str(beside)
    found = shutil.which("mitmdump")
    if found is None:
        raise RecordingError(
            "mitmdump was not found; install the recording extra: pip install 'apiharness[record]'"
        )
    return found


def _check_upstream(upstream: str | None) -> None:
    if upstream is None:
        return
    parts = urlsplit(upstream)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigurationError(
            f"upstream must be an http(s) URL such as https://api.example.com, got {upstream!r:.80}"
        )


@dataclass
class Recorder:
    """A recording mitmdump process; a context manager.

    ``upstream`` set: a reverse proxy in front of that API; point a client at
    :attr:`base_url`. ``upstream`` unset: a regular proxy; give a process :meth:`client_env`.
    ::

        with Recorder("cassettes/api.yaml", upstream="https://api.example.com") as rec:
            httpx.get(f"{rec.base_url}/v1/items")
        # the cassette is written when the block ends
    """

    cassette: Path
    upstream: str | None = None
    port: int = 0
    redact: bool = True
    append: bool = False
    redact_headers: tuple[str, ...] = ()
    redact_params: tuple[str, ...] = ()
    redact_fields: tuple[str, ...] = ()
    upstream_ca: Path | None = None
    confdir: Path | None = None
    startup_timeout: float = 60.0
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False, repr=False)
    _listen_port: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.cassette = Path(self.cassette)
        _check_upstream(self.upstream)
        if not 0 <= self.port <= 65535:
            raise ConfigurationError(f"port must be 0 (any free port) to 65535, got {self.port}")
        if self.upstream_ca is not None and not Path(self.upstream_ca).is_file():
            raise ConfigurationError(f"upstream_ca {self.upstream_ca} is not a file")
        Redactor(secrets=self.secrets)  # a bad secret fails here, not inside mitmdump

    # -- facts about the running proxy -----------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the mitmdump process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def listen_port(self) -> int:
        if self._listen_port is None:
            raise RecordingError("the recorder is not running; use it as a context manager")
        return self._listen_port

    @property
    def base_url(self) -> str:
        """Where clients connect: the API's stand-in (reverse mode) or the proxy."""
        return f"http://127.0.0.1:{self.listen_port}"

    proxy_url = base_url

    @property
    def recorded(self) -> int:
        """How many interactions this run has recorded so far (written to the cassette at stop)."""
        if self._workdir is None:
            return 0
        try:
            return int(json.loads((Path(self._workdir.name) / _PROGRESS).read_text())["recorded"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    @property
    def ca_file(self) -> Path:
        """mitmproxy's CA certificate, which clients must trust for HTTPS through the proxy."""
        return self._confdir() / _CA_NAME

    def client_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for a process whose HTTP(S) traffic should be recorded."""
        env = dict(os.environ if base is None else base)
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env[name] = self.proxy_url
        target = urlsplit(self.upstream).hostname if self.upstream else None
        for name in ("NO_PROXY", "no_proxy"):
            kept = [
                entry
                for entry in env.get(name, "").split(",")
                if entry.strip() and target is not None and entry.strip() != target
            ]
            env[name] = ",".join(kept)
        for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            env[name] = str(self.ca_file)
        return env

    # -- lifecycle -------------------------------------------------------------------------------

    def _log(self) -> Path:
        if self._workdir is None:
            raise RecordingError("the recorder is not running; use it as a context manager")
        return Path(self._workdir.name) / "mitmdump.log"

    def _confdir(self) -> Path:
        if self.confdir is not None:
            return Path(self.confdir)
        if self._workdir is None:
            raise RecordingError("the recorder is not running; use it as a context manager")
        return Path(self._workdir.name)

    def _command(self, ready: Path) -> list[str]:
        options = {
            "confdir": str(self._confdir()),
            "vcr_cassette": str(self.cassette.resolve()),
            "vcr_append": str(self.append).lower(),
            "vcr_redact": str(self.redact).lower(),
            "vcr_ready_file": str(ready),
            "vcr_error_file": str(ready.with_name("error.txt")),
            "vcr_progress_file": str(ready.parent / _PROGRESS),
            "vcr_parent_pid": str(os.getpid()),  # mitmdump stops if we die without stopping it
            "flow_detail": "0",
        }
        if self.upstream_ca is not None:
            options["ssl_verify_upstream_trusted_ca"] = str(Path(self.upstream_ca).resolve())
        command = [mitmdump_executable(), "--quiet", "-s", str(_ADDON_SCRIPT)]
        command += ["--listen-host", "127.0.0.1", "--listen-port", str(self.port)]
        if self.upstream is not None:
            command += ["--mode", f"reverse:{self.upstream}"]
        for name, value in options.items():
            command += ["--set", f"{name}={value}"]
        for name, values in (
            ("vcr_redact_headers", self.redact_headers),
            ("vcr_redact_params", self.redact_params),
            ("vcr_redact_fields", self.redact_fields),
        ):
            for value in values:
                command += ["--set", f"{name}={value}"]
        return command

    def start(self) -> Recorder:
        """Start mitmdump and wait until it listens."""
        if self._process is not None:
            raise RecordingError("this recorder is already running")
        sweep_stale_workdirs()
        self._workdir = tempfile.TemporaryDirectory(prefix=f"{_WORKDIR_PREFIX}{os.getpid()}-")
        work = Path(self._workdir.name)
        ready, log = work / "ready.json", self._log()
        env = {**os.environ, SECRETS_VARIABLE: json.dumps(dict(self.secrets))}
        with log.open("wb") as sink:
            # A session of its own: a terminal's Ctrl-C reaches us, and we stop it cleanly.
            self._process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
                self._command(ready),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        clock = SystemClock()
        deadline = clock.monotonic() + self.startup_timeout
        try:
            (work / _MITMDUMP_PID).write_text(str(self._process.pid))
            while not ready.exists():
                if self._process.poll() is not None or clock.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-2000:]
                    tail = scrub(tail, environment=True)  # its output is not ours to show
                    raise RecordingError(f"mitmdump did not start:\n{tail}")
                clock.sleep(0.02)
            self._listen_port = json.loads(ready.read_text())["port"]
        except BaseException:
            # Never leave a mitmdump behind: not on a failed start, nor on Ctrl-C during it.
            self._abort()
            self._cleanup()
            raise
        return self

    def _abort(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def stop(self, timeout: float = 30.0) -> Path:
        """Stop mitmdump with SIGTERM; it writes the cassette. Returns the cassette's path."""
        process = self._process
        if process is None:
            raise RecordingError("the recorder is not running")
        try:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._abort()
                raise RecordingError(
                    f"mitmdump did not stop within {timeout} s of SIGTERM; the cassette "
                    f"{self.cassette} may not have been written"
                ) from None
            refused = self._log().with_name("error.txt")
            if refused.exists():
                raise RecordingError(refused.read_text())
            if not self.cassette.exists():
                tail = self._log().read_text(errors="replace")[-2000:]
                raise RecordingError(
                    f"mitmdump exited with status {process.returncode} without writing "
                    f"{self.cassette}:\n{tail}"
                )
            return self.cassette
        finally:
            self._cleanup()

    def _cleanup(self) -> None:
        self._process = None
        self._listen_port = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
