"""The pytest record modes, in inner sessions: record through mitmdump, then replay offline."""

from __future__ import annotations

import pytest
from _api_server import BINARY, CHUNKS, SECRETS, serve

# Loaded here, outside the inner sessions: pytester's in-process runs drop the modules first
# imported inside a run, and a pydantic-settings model cached by one run (the declared secrets'
# EnvSecret) fails pydantic's isinstance check in the next one, against a second copy of its
# modules. Under xdist another test had imported them first; alone, this test failed.
import apiharness.oauth._secrets  # noqa: F401
from apiharness.recording import Cassette

INNER_TESTS = f"""
import os

import httpx

AUTH = {{"Authorization": "Bearer {SECRETS["API_TOKEN"]}"}}


def test_binary(apiharness_cassette):
    with httpx.Client(headers=AUTH) as client:
        response = client.get(os.environ["INNER_API_URL"] + "/binary")
        if os.environ.get("INNER_MORE"):
            assert client.get(os.environ["INNER_API_URL"] + "/redirect").status_code == 302
    assert response.status_code == 200
    assert response.content == bytes(range(256)) * 4
    print("RECORDING" if apiharness_cassette.recording else "REPLAYING")


def test_stream(apiharness_cassette):
    with httpx.Client(headers=AUTH) as client:
        response = client.get(os.environ["INNER_API_URL"] + "/stream")
    assert response.text == {b"".join(CHUNKS).decode()!r}
"""


def test_once_records_then_none_replays_with_the_api_down(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_inner=INNER_TESTS)
    with serve() as upstream:
        monkeypatch.setenv("INNER_API_URL", upstream)
        recorded = pytester.runpytest("-p", "apiharness", "--apiharness-record-mode=once", "-s")
        recorded.assert_outcomes(passed=2)
        recorded.stdout.fnmatch_lines(["*RECORDING*"])
        folder = pytester.path / "cassettes" / "test_inner"
        assert sorted(p.name for p in folder.iterdir()) == ["test_binary.yaml", "test_stream.yaml"]
        [interaction] = Cassette.load(folder / "test_binary.yaml").interactions
        assert interaction.request.uri == f"{upstream}/binary"
        assert interaction.response.body == BINARY
        # new_episodes: /binary replays, the new /redirect goes live and is appended.
        monkeypatch.setenv("INNER_MORE", "1")
        more = pytester.runpytest(
            "-p", "apiharness", "--apiharness-record-mode=new_episodes", "-k", "binary"
        )
        more.assert_outcomes(passed=1)
    binary = Cassette.load(folder / "test_binary.yaml").interactions
    assert [(i.request.uri, i.response.status) for i in binary] == [
        (f"{upstream}/binary", 200),
        (f"{upstream}/redirect", 302),
    ]
    assert SECRETS["API_TOKEN"].encode() not in (folder / "test_binary.yaml").read_bytes()

    # The API is down; the default mode (none) replays with vcrpy.
    replayed = pytester.runpytest("-p", "apiharness", "-s")
    replayed.assert_outcomes(passed=2)
    replayed.stdout.fnmatch_lines(["*REPLAYING*"])
    # once + an existing cassette replays too, without starting mitmdump
    pytester.runpytest("-p", "apiharness", "--apiharness-record-mode=once").assert_outcomes(
        passed=2
    )

    # A cassette without the request: none mode fails the test instead of going online.
    (folder / "test_stream.yaml").write_text(
        (folder / "test_binary.yaml").read_text().replace("/binary", "/elsewhere")
    )
    missing = pytester.runpytest("-p", "apiharness", "-k", "stream")
    missing.assert_outcomes(failed=1)
    missing.stdout.fnmatch_lines(["*CannotOverwriteExistingCassetteException*"])

    # A hand-edited cassette fails with the file and entry named.
    (folder / "test_binary.yaml").write_text("version: 1\ninteractions:\n- {request: {}}\n")
    corrupt = pytester.runpytest("-p", "apiharness", "-k", "binary")
    corrupt.assert_outcomes(errors=1)
    corrupt.stdout.fnmatch_lines(["*CassetteError*test_binary.yaml: interaction #0*"])


def test_the_leak_gate_runs_after_recording_and_at_the_end(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_inner=INNER_TESTS)
    # A declared secret in no secret place (a plain text body) is redacted by value.
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def apiharness_secrets():
            return {"LEAKY": "second chunk"}
        """
    )
    with serve() as upstream:
        monkeypatch.setenv("INNER_API_URL", upstream)
        result = pytester.runpytest(
            "-p", "apiharness", "--apiharness-record-mode=all", "-k", "stream"
        )
    result.assert_outcomes(passed=1)
    recorded = (pytester.path / "cassettes" / "test_inner" / "test_stream.yaml").read_text()
    assert "second chunk" not in recorded
    assert "first chunk" in recorded
    assert "REDACTED" in recorded

    # At the end of a run, over the whole folder, with secrets from the environment.
    monkeypatch.setenv("INNER_CHUNK_TOKEN", "third chunk")
    pytester.makeconftest("")
    final = pytester.runpytest("-p", "apiharness", "-k", "stream", "--apiharness-check-secrets")
    assert final.ret == pytest.ExitCode.TESTS_FAILED
    final.stdout.fnmatch_lines(
        ["*apiharness: secret leak in cassettes*", "*INNER_CHUNK_TOKEN (raw)*"]
    )


def test_it_works_beside_pytest_recording(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_both="""
        import pytest


        def test_ours(apiharness_cassette, record_mode):
            assert apiharness_cassette.mode == "none"
            assert not apiharness_cassette.recording
            assert record_mode == "once"  # pytest-recording's own option, untouched


        @pytest.mark.vcr
        def test_theirs(vcr, apiharness_secrets):
            assert vcr.record_mode == "once"
            assert apiharness_secrets == {}
        """
    )
    # An existing (empty) cassette, replayed by apiharness's fixture with vcrpy.
    ours = pytester.path / "cassettes" / "test_both" / "test_ours.yaml"
    ours.parent.mkdir(parents=True)
    ours.write_text("interactions: []\nversion: 1\n")
    both = ("-p", "apiharness", "-p", "pytest_recording", "--record-mode=once")
    result = pytester.runpytest(*both, "--apiharness-record-mode=none")
    result.assert_outcomes(passed=2)
    help_text = pytester.runpytest(*both, "--help").stdout.str()
    assert "--apiharness-record-mode" in help_text
    assert "--record-mode" in help_text


def test_a_bad_record_mode_in_the_ini_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\napiharness_record_mode = sometimes\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest("-p", "apiharness")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*apiharness_record_mode must be one of none, once*'sometimes'*"])


def test_the_gate_reads_declared_secrets_from_the_secrets_provider(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A name that does not look secret, with its value only in .env: only the provider knows.
    monkeypatch.delenv("PARTNER_ACCOUNT", raising=False)
    pytester.makeini("[pytest]\napiharness_secrets = PARTNER_ACCOUNT\n")
    (pytester.path / ".env").write_text("PARTNER_ACCOUNT=acct-7f3e9c2b51\n")
    cassettes = pytester.path / "cassettes" / "test_x"
    cassettes.mkdir(parents=True)
    (cassettes / "leaky.yaml").write_text(
        "interactions:\n"
        "- request:\n"
        "    body: null\n"
        "    headers: {}\n"
        "    method: GET\n"
        "    uri: https://api.example/accounts/acct-7f3e9c2b51\n"
        "  response:\n"
        "    body: {string: ''}\n"
        "    headers: {}\n"
        "    status: {code: 200, message: OK}\n"
        "version: 1\n"
    )
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "apiharness", "--apiharness-check-secrets")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*secret leak in cassettes*", "*PARTNER_ACCOUNT*"])
    assert "acct-7f3e9c2b51" not in result.stdout.str()
    (pytester.path / ".env").write_text("PARTNER_ACCOUNT=other-value-123\n")
    assert pytester.runpytest_subprocess("-p", "apiharness", "--apiharness-check-secrets").ret == 0


def test_a_declared_secret_in_a_url_is_redacted_and_still_replays(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client puts a declared secret in a plain query parameter: the recording holds the
    # placeholder, and on replay the live request is redacted the same way, so it matches.
    pytester.makepyfile(
        test_tenant=f"""
        import os

        import httpx

        def test_tenant(apiharness_cassette):
            url = os.environ["INNER_API_URL"] + "/binary"
            headers = {{"Authorization": "Bearer {SECRETS["API_TOKEN"]}"}}
            params = {{"tenant": os.environ["INNER_TENANT"]}}
            with httpx.Client(headers=headers) as client:
                assert client.get(url, params=params).status_code == 200
        """
    )
    pytester.makeini("[pytest]\napiharness_secrets = INNER_TENANT\n")
    monkeypatch.setenv("INNER_TENANT", "tenant-0a1b2c3d")
    with serve() as upstream:
        monkeypatch.setenv("INNER_API_URL", upstream)
        pytester.runpytest("-p", "apiharness", "--apiharness-record-mode=once").assert_outcomes(
            passed=1
        )
    cassette = pytester.path / "cassettes" / "test_tenant" / "test_tenant.yaml"
    [interaction] = Cassette.load(cassette).interactions
    assert interaction.request.uri == f"{upstream}/binary?tenant=REDACTED"
    assert b"tenant-0a1b2c3d" not in cassette.read_bytes()
    pytester.runpytest("-p", "apiharness").assert_outcomes(passed=1)  # the API is down
