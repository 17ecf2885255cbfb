"""pytest integration: record through mitmproxy, one cassette per test, or replay with vcrpy.

Record modes carry pytest-recording's names and meaning, under apiharness's own option names
(``--apiharness-record-mode``; ini ``apiharness_record_mode``) and fixture names
(``apiharness_cassette``, ``apiharness_secrets``), so both plugins can be installed together:

=============  ==================================================================================
``none``       replay only (default); a request missing from the cassette fails
``once``       replay if the cassette exists, else record it
``new_episodes``  replay what is recorded, record what is not, appending to the cassette
``all``        record everything again, overwriting the cassette
=============  ==================================================================================

Recording starts a ``mitmdump`` for the test and points the test's environment at it
(``HTTP(S)_PROXY``, ``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE``; ``NO_PROXY`` cleared), so clients
created in the test with ``trust_env`` (httpx's and requests' default) go through the proxy to
the live API. When the test ends the cassette is written, redacted, and checked by the
secret-leak gate. Replay uses plain vcrpy with the redactor as ``before_record_request``.
vcrpy and mitmproxy are imported only when a test asks for the fixture.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from apiharness.errors import ConfigurationError, SecretLeakError
from apiharness.recording._cassette import Cassette
from apiharness.recording._leaks import check_cassettes, secrets_from_env
from apiharness.recording._recorder import Recorder
from apiharness.recording._redact import Redactor

__all__ = [
    "MARKER",
    "RECORD_MODES",
    "CassetteUse",
    "add_options",
    "apiharness_cassette",
    "apiharness_secrets",
    "check_secrets_at_end",
    "declared_secrets",
    "record_mode",
]

RECORD_MODES = ("none", "once", "new_episodes", "all")
MARKER = (
    "apiharness_cassette(name=None, **recorder_options): the cassette of this test "
    "(default cassettes/<module>/<test>.yaml) and Recorder options such as upstream_ca"
)
_RECORDER_OPTIONS = {"upstream_ca", "redact", "redact_headers", "redact_params", "redact_fields"}


def add_options(group: Any, parser: pytest.Parser) -> None:
    """The recording options, added to the plugin's ``apiharness`` group."""
    group.addoption(
        "--apiharness-record-mode",
        choices=RECORD_MODES,
        default=None,
        help="Record through mitmproxy or replay cassettes: none (replay, default), once, "
        "new_episodes, all - as pytest-recording's modes. Ini: apiharness_record_mode.",
    )
    group.addoption(
        "--apiharness-check-secrets",
        action="store_true",
        default=None,
        help="At the end of the run, fail if any cassette under the cassette folder holds a "
        "secret (the leak gate). Ini: apiharness_check_secrets.",
    )
    parser.addini("apiharness_record_mode", "Default record mode (none).", default="none")
    parser.addini(
        "apiharness_cassette_dir", "Cassette folder, relative to rootdir.", default="cassettes"
    )
    parser.addini(
        "apiharness_check_secrets", "Run the leak gate at the end.", type="bool", default=False
    )
    parser.addini(
        "apiharness_secrets",
        "Names of secrets (read from the environment or .env) the leak gate also looks for.",
        type="args",
        default=[],
    )


def record_mode(config: pytest.Config) -> str:
    mode = config.getoption("--apiharness-record-mode") or config.getini("apiharness_record_mode")
    if mode not in RECORD_MODES:
        raise pytest.UsageError(
            f"apiharness: apiharness_record_mode must be one of {', '.join(RECORD_MODES)}, "
            f"got {mode!r}"
        )
    return str(mode)


def cassette_dir(config: pytest.Config) -> Path:
    return config.rootpath / str(config.getini("apiharness_cassette_dir"))


def _default_name(node: pytest.Item) -> str:
    # Parametrized ids may hold any character; keep file names portable.
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", node.name).strip("-") + ".yaml"


@dataclass
class CassetteUse:
    """What the ``apiharness_cassette`` fixture gives a test."""

    path: Path
    mode: str
    recording: bool
    recorder: Recorder | None = None

    @property
    def proxy_url(self) -> str | None:
        """The proxy the test's traffic goes through while recording, else None."""
        return self.recorder.proxy_url if self.recorder is not None else None


def _vcr(mode: str, redactor: Redactor) -> Any:
    import vcr
    from vcr.persisters.filesystem import FilesystemPersister

    class _ReadOnly(FilesystemPersister):  # type: ignore[misc]
        # mitmproxy writes the cassette; vcrpy must never save its own unredacted copy.
        @staticmethod
        def save_cassette(cassette_path: object, cassette_dict: object, serializer: object) -> None:
            return None

    player = vcr.VCR(record_mode=mode, before_record_request=redactor.vcr_before_record_request)
    player.register_persister(_ReadOnly)
    return player


class _Gate:
    """The leak gate for one test. Holds the secrets out of sight: pytest prints the locals of
    failing frames, so no frame of ours may hold the values in a plain local."""

    def __init__(self, declared: Mapping[str, str]) -> None:
        self._secrets = {**secrets_from_env(), **declared}

    def __repr__(self) -> str:
        return f"<leak gate: {len(self._secrets)} secrets>"

    def check(self, path: Path) -> None:
        try:
            check_cassettes([path], self._secrets, use_env=False)
        except SecretLeakError as exc:
            message = str(exc)
        else:
            return
        pytest.fail(message, pytrace=False)


def declared_secrets(config: pytest.Config) -> dict[str, str]:
    """The secrets named by the ``apiharness_secrets`` ini value, read by the secrets provider.

    Values come from the environment, then the rootdir's ``.env`` (see
    :class:`apiharness.oauth.SecretsProvider`); names without a value are skipped.
    """
    names = config.getini("apiharness_secrets")
    if not names:
        return {}
    from apiharness.oauth import EnvSecrets, SecretsProvider

    provider = SecretsProvider(EnvSecrets(env_file=config.rootpath / ".env"), declared=names)
    return {name: value.get_secret_value() for name, value in provider.declared_values().items()}


@pytest.fixture
def apiharness_secrets(request: pytest.FixtureRequest) -> Mapping[str, str]:
    """Secret values (name -> value) the leak gate looks for, besides secret-looking env vars.

    By default, the secrets named in the ``apiharness_secrets`` ini value (from the environment
    or ``.env``). Override it in a conftest.py to declare others::

        @pytest.fixture
        def apiharness_secrets():
            return {"stripe": os.environ.get("STRIPE_TEST_KEY", "sk_test_placeholder")}
    """
    return declared_secrets(request.config)


@pytest.fixture
def apiharness_cassette(request: pytest.FixtureRequest) -> Iterator[CassetteUse]:
    """Record this test's HTTP traffic into its cassette, or replay it, by record mode.

    ::

        def test_list_items(apiharness_cassette):
            with httpx.Client() as client:          # created inside the test: sees the proxy
                assert client.get("https://api.example.com/items").status_code == 200

    ``pytest --apiharness-record-mode=once`` records ``cassettes/<module>/<test>.yaml`` against
    the live API; plain ``pytest`` replays it.
    """
    config = request.config
    mode = record_mode(config)
    marker = request.node.get_closest_marker("apiharness_cassette")
    options = dict(marker.kwargs) if marker else {}
    unknown = set(options) - _RECORDER_OPTIONS
    if unknown:
        raise ConfigurationError(
            f"apiharness_cassette marker: unknown option(s) {sorted(unknown)}; "
            f"use {sorted(_RECORDER_OPTIONS)}"
        )
    name = marker.args[0] if marker and marker.args else _default_name(request.node)
    module = Path(str(request.node.path)).stem
    path = cassette_dir(config) / module / name
    exists = path.exists()
    redacting = options.get("redact", True)
    declared = request.getfixturevalue("apiharness_secrets")
    # Live requests are redacted on replay with the secrets the recording was redacted with,
    # so a secret the client puts in a URL matches its placeholder (with CI's value, too).
    redactor = (Redactor() if redacting else Redactor.disabled()).with_extra(
        headers=options.get("redact_headers", ()),
        query_params=options.get("redact_params", ()),
        body_fields=options.get("redact_fields", ()),
        secrets={**secrets_from_env(), **declared} if redacting else None,
    )
    record = mode == "all" or (mode in {"once", "new_episodes"} and not exists)
    replay = mode == "none" or (mode in {"once", "new_episodes"} and exists)
    if replay and exists:
        Cassette.load(path)  # a corrupt cassette fails here, naming the file and the entry
    append = mode == "new_episodes" and exists
    recorder = (
        Recorder(path, append=append, secrets=declared, **options) if record or append else None
    )
    gate = _Gate(declared) if recorder else None
    with pytest.MonkeyPatch.context() as env:
        if recorder is not None:
            recorder.start()
            for key, value in recorder.client_env(dict(os.environ)).items():
                env.setenv(key, value)
        try:
            if replay:
                with _vcr("new_episodes" if append else "none", redactor).use_cassette(str(path)):
                    yield CassetteUse(path, mode, recording=append, recorder=recorder)
            else:
                yield CassetteUse(path, mode, recording=True, recorder=recorder)
        finally:
            if recorder is not None:
                recorder.stop()
    if gate is not None:
        gate.check(path)


def check_secrets_at_end(session: pytest.Session) -> None:
    """The leak gate over the whole cassette folder, when asked for; fails the run on a leak."""
    config = session.config
    if hasattr(config, "workerinput"):
        return  # under xdist, the controller checks once for all workers
    wanted = config.getoption("--apiharness-check-secrets") or config.getini(
        "apiharness_check_secrets"
    )
    folder = cassette_dir(config)
    if not wanted or not folder.is_dir():
        return
    try:
        check_cassettes([folder], declared_secrets(config))
    except SecretLeakError as exc:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "apiharness: secret leak in cassettes", red=True)
            reporter.write_line(str(exc))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
