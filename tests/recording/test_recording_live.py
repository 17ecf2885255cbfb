"""Record the test API through a real mitmdump, then replay with plain vcrpy, the API stopped.

The recording fixture runs once per scheme (HTTP, and HTTPS with a trustme CA the proxy is told
to trust). Replay uses vcrpy itself, unmodified, with httpx (sync, async, streaming) and
requests: the proof that the cassettes are plain VCR.py cassettes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import vcr
from _api_server import BINARY, CHUNKS, ITEMS, SECRETS, serve

from apiharness.errors import ConfigurationError, RecordingError
from apiharness.recording import Cassette, Recorder, Redactor, check_cassettes, encoded_forms
from apiharness.recording._recorder import _alive, sweep_stale_workdirs

AUTH = {"Authorization": f"Bearer {SECRETS['API_TOKEN']}"}
KEY = SECRETS["API_KEY"]
# One scenario, driven by every client: (name, method, path, keyword arguments).
CALLS: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        "items",
        "GET",
        "/items",
        {
            "params": {"api_key": KEY},
            "headers": {"X-Api-Key": KEY, "Cookie": f"session={SECRETS['SESSION']}"},
        },
    ),
    ("redirect", "GET", "/redirect", {}),
    ("binary", "GET", "/binary", {}),
    ("stream", "GET", "/stream", {}),
    ("login", "POST", "/login", {"json": {"user": "ann", "password": SECRETS["PASSWORD"]}}),
    ("stacked", "GET", "/stacked", {"params": {"c": "gzip,br"}}),
    ("stacked", "GET", "/stacked", {"params": {"c": "gzip,gzip"}}),
    ("stacked", "GET", "/stacked", {"params": {"c": "deflate,br"}}),
    (
        "token",
        "POST",
        "/oauth/token",
        {"data": {"grant_type": "client_credentials", "client_secret": SECRETS["CLIENT_SECRET"]}},
    ),
]
EXPECTED = [
    ("items", 200, ITEMS),
    ("redirect", 200, True),
    ("binary", 200, True),
    ("stream", 200, b"".join(CHUNKS).decode()),
    ("login", 200, "bearer"),
    ("stacked", 200, ["gzip", "br"]),
    ("stacked", 200, ["gzip", "gzip"]),
    ("stacked", 200, ["deflate", "br"]),
    ("token", 200, {"granted": True}),
]


def summary(name: str, status: int, body: bytes) -> tuple[str, int, object]:
    if name in {"redirect", "binary"}:
        return name, status, body == BINARY
    if name == "stream":
        return name, status, body.decode()
    if name == "login":
        return name, status, json.loads(body)["token_type"]
    if name == "stacked":
        return name, status, json.loads(body)["layers"]
    return name, status, json.loads(body)


def run_httpx(client: httpx.Client) -> list[tuple[str, int, object]]:
    return [
        summary(
            name,
            (r := client.request(method, path, follow_redirects=True, **kw)).status_code,
            r.content,
        )
        for name, method, path, kw in CALLS
    ]


async def run_httpx_async(client: httpx.AsyncClient) -> list[tuple[str, int, object]]:
    out = []
    for name, method, path, kw in CALLS:
        response = await client.request(method, path, follow_redirects=True, **kw)
        out.append(summary(name, response.status_code, response.content))
    return out


def run_requests(base_url: str) -> list[tuple[str, int, object]]:
    with requests.Session() as session:
        session.headers.update(AUTH)
        out = []
        for name, method, path, kw in CALLS:
            response = session.request(method, base_url + path, timeout=10, **kw)
            out.append(summary(name, response.status_code, response.content))
        return out


@dataclass
class Recorded:
    cassette: Path
    upstream: str
    live: list[tuple[str, int, object]]
    so_far: int  # what the recorder reported as recorded before it stopped


@pytest.fixture(scope="module", params=["http", "https"])
def recorded(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    server_tls: Any,
    ca_pem: Path,
) -> Recorded:
    https = request.param == "https"
    cassette = tmp_path_factory.mktemp("recorded") / "api.yaml"
    with (
        serve(server_tls if https else None) as upstream,
        Recorder(cassette, upstream=upstream, upstream_ca=ca_pem if https else None) as rec,
        httpx.Client(base_url=rec.base_url, headers=AUTH) as client,
    ):
        live = run_httpx(client)
        so_far = rec.recorded
    # The API is down from here on: every replay below is served by the cassette alone.
    with pytest.raises(httpx.ConnectError):
        httpx.get(upstream, verify=ssl.create_default_context(cafile=str(ca_pem)))
    return Recorded(cassette, upstream, live, so_far)


def replayer() -> vcr.VCR:
    return vcr.VCR(record_mode="none", before_record_request=Redactor().vcr_before_record_request)


def test_recording_went_through_to_the_live_api(recorded: Recorded) -> None:
    assert recorded.live == EXPECTED
    cassette = Cassette.load(recorded.cassette)
    assert recorded.so_far == len(cassette) == 10  # progress counted every interaction
    uris = [i.request.uri for i in cassette]
    assert uris[0] == f"{recorded.upstream}/items?api_key=REDACTED"
    assert [u.removeprefix(recorded.upstream) for u in uris[1:]] == [
        "/redirect", "/binary", "/binary", "/stream", "/login",
        "/stacked?c=gzip%2Cbr", "/stacked?c=gzip%2Cgzip", "/stacked?c=deflate%2Cbr",
        "/oauth/token",
    ]  # fmt: skip
    items = cassette.interactions[0].response
    assert json.loads(items.body) == ITEMS
    assert "Content-Encoding" not in dict(items.headers)
    assert dict(items.headers)["Content-Length"] == str(len(items.body))
    assert cassette.interactions[2].response.body == BINARY
    stream = cassette.interactions[4].response
    assert stream.body == b"".join(CHUNKS)
    assert "Transfer-Encoding" not in dict(stream.headers)
    for stacked in cassette.interactions[6:9]:  # stored decoded, the header dropped
        response = stacked.response
        assert json.loads(response.body)["access_token"] == "REDACTED"
        assert not {name.lower() for name, _ in response.headers} & {"content-encoding"}
        assert dict(response.headers)["Content-Length"] == str(len(response.body))


def test_no_secret_occurs_in_the_cassette_bytes(recorded: Recorded) -> None:
    data = recorded.cassette.read_bytes()
    for name, value in SECRETS.items():
        for needle, encoding in encoded_forms(value).items():
            assert needle not in data, f"{name} leaked ({encoding})"
    assert check_cassettes([recorded.cassette], SECRETS, use_env=False) == [recorded.cassette]


def test_plain_vcrpy_replays_with_httpx_sync_and_streaming(recorded: Recorded) -> None:
    with (
        replayer().use_cassette(str(recorded.cassette)),
        httpx.Client(base_url=recorded.upstream, headers=AUTH) as client,
    ):
        assert run_httpx(client) == EXPECTED
    with (
        replayer().use_cassette(str(recorded.cassette)),
        httpx.Client(base_url=recorded.upstream, headers=AUTH) as client,
    ):
        client.get("/items", params={"api_key": KEY})
        client.get("/redirect")
        with client.stream("GET", "/binary") as response:
            assert b"".join(response.iter_bytes(chunk_size=100)) == BINARY
        with client.stream("GET", "/binary") as response:
            assert b"".join(response.iter_bytes()) == BINARY
        with client.stream("GET", "/stream") as response:
            assert "".join(response.iter_text()) == b"".join(CHUNKS).decode()


def test_plain_vcrpy_replays_with_httpx_async(recorded: Recorded) -> None:
    async def main() -> list[tuple[str, int, object]]:
        async with httpx.AsyncClient(base_url=recorded.upstream, headers=AUTH) as client:
            return await run_httpx_async(client)

    with replayer().use_cassette(str(recorded.cassette)):
        assert asyncio.run(main()) == EXPECTED


def test_plain_vcrpy_replays_with_requests(recorded: Recorded) -> None:
    with replayer().use_cassette(str(recorded.cassette)):
        assert run_requests(recorded.upstream) == EXPECTED


CLIENT_SCRIPT = textwrap.dedent(
    """
    import sys, httpx
    # trust_env (the default) picks up HTTPS_PROXY and SSL_CERT_FILE set by `apiharness record`.
    with httpx.Client(headers={"Authorization": "Bearer %s"}) as client:
        response = client.get(sys.argv[1] + "/binary")
    sys.exit(3 if response.status_code == 200 and len(response.content) == 1024 else 1)
    """
)


def apiharness_cli() -> list[str]:
    return [sys.executable, "-c", "from apiharness.cli import main; main()"]


def test_record_around_a_command_over_https(tmp_path: Path, server_tls: Any, ca_pem: Path) -> None:
    script = tmp_path / "client.py"
    script.write_text(CLIENT_SCRIPT % SECRETS["API_TOKEN"])
    cassette = tmp_path / "cmd.yaml"
    with serve(server_tls) as upstream:
        command = [*apiharness_cli(), "record", "--cassette", str(cassette)]
        command += ["--upstream-ca", str(ca_pem), "--", sys.executable, str(script), upstream]
        # A NO_PROXY naming the target would bypass the proxy: record must clear it.
        env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1"}
        done = subprocess.run(command, capture_output=True, timeout=120, check=False, env=env)
    assert done.returncode == 3, done.stderr.decode()[-2000:]
    interactions = Cassette.load(cassette).interactions
    assert [(i.request.uri, i.response.status) for i in interactions] == [
        (f"{upstream}/binary", 200)
    ]
    assert interactions[0].response.body == BINARY
    assert SECRETS["API_TOKEN"].encode() not in cassette.read_bytes()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_record_reverse_proxy_until_stopped(tmp_path: Path, stop: signal.Signals) -> None:
    cassette = tmp_path / "reverse.yaml"
    with serve() as upstream:
        command = [*apiharness_cli(), "record", "--cassette", str(cassette), "--upstream", upstream]
        # Started as a script's background job is (`apiharness record ... &`): with SIGINT
        # ignored, which the child inherits. The command must install its own handler (it once
        # relied on Python's default KeyboardInterrupt and then never stopped).
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # noqa: PLW1509
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            match = re.search(r"at (http://127\.0\.0\.1:\d+) ", line)
            assert match, line
            response = httpx.get(match.group(1) + "/binary", headers=AUTH)
            assert response.content == BINARY
            assert not cassette.exists()  # written when recording ends, not before
            process.send_signal(stop)
            assert process.wait(timeout=60) == 0
            assert "wrote 1 interaction(s) to" in process.stdout.read()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    interactions = Cassette.load(cassette).interactions
    assert [i.request.uri for i in interactions] == [f"{upstream}/binary"]
    assert dict(interactions[0].request.headers)["Authorization"] == "Bearer REDACTED"


def test_a_killed_recorder_leaves_no_proxy_behind_and_its_recording_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cassette = tmp_path / "orphan.yaml"
    temp = tmp_path / "temp"  # the recorders' temp folder, this test's own
    temp.mkdir()
    with serve() as upstream:
        command = [*apiharness_cli(), "record", "--cassette", str(cassette), "--upstream", upstream]
        env = {**os.environ, "TMPDIR": str(temp)}
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert process.stdout is not None
            match = re.search(r"at (http://127\.0\.0\.1:(\d+)) ", process.stdout.readline())
            assert match
            assert httpx.get(match.group(1) + "/binary", headers=AUTH).content == BINARY
        finally:
            process.kill()  # SIGKILL: no handler runs, mitmdump is not told
            process.wait()
        # mitmdump notices its parent is gone, writes the cassette and stops listening.
        deadline = time.monotonic() + 30
        while not cassette.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [i.request.uri for i in Cassette.load(cassette).interactions] == [
            f"{upstream}/binary"
        ]
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", int(match.group(2))), timeout=1).close()
            except OSError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the orphaned mitmdump still listens 30 s after its recorder died")
        # It could not remove its work folder (mitmproxy's CA key is in it); the next recorder
        # to start does, and leaves alone the folders of a live recorder or a live mitmdump.
        [stale] = temp.glob(f"apiharness-record-{process.pid}-*")
        assert (stale / "mitmproxy-ca.pem").exists()
        proxy, exited_by = int((stale / "mitmdump.pid").read_text()), time.monotonic() + 30
        while _alive(proxy):  # it stops listening before it exits: the sweep waits for that
            assert time.monotonic() < exited_by, "the orphaned mitmdump is still running"
            time.sleep(0.1)
        live_recorder = temp / f"apiharness-record-{os.getpid()}-live"
        live_proxy = temp / f"apiharness-record-{process.pid}-proxy"
        for kept in (live_recorder, live_proxy):
            kept.mkdir()
        (live_proxy / "mitmdump.pid").write_text(str(os.getpid()))
        monkeypatch.setattr(tempfile, "tempdir", str(temp))
        with Recorder(tmp_path / "next.yaml", upstream=upstream) as recorder:
            assert recorder.running
            assert not stale.exists()
        assert set(temp.iterdir()) == {live_recorder, live_proxy}


def test_the_sweep_removes_only_folders_of_gone_recorders(tmp_path: Path) -> None:
    reaped = subprocess.Popen(["true"])
    reaped.wait()
    zombie = subprocess.Popen(["true"])  # exited, not yet reaped: as good as gone
    deadline = time.monotonic() + 10
    while Path(f"/proc/{zombie.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep").write_text("x")
    gone = [
        tmp_path / f"apiharness-record-{reaped.pid}-a",
        tmp_path / f"apiharness-record-{zombie.pid}-b",
    ]
    kept = [
        tmp_path / f"apiharness-record-{os.getpid()}-c",  # a live recorder
        tmp_path / "apiharness-record-old",  # no pid in its name: not ours to judge
        tmp_path / f"apiharness-record-{2**70}-d",  # no such pid
    ]
    for folder in gone + kept:
        folder.mkdir()
        (folder / "mitmproxy-ca.pem").write_text("key")
    link = tmp_path / f"apiharness-record-{reaped.pid}-link"
    link.symlink_to(target)
    try:
        assert sorted(sweep_stale_workdirs(tmp_path)) == sorted(gone)
    finally:
        zombie.wait()
    assert all(not folder.exists() for folder in gone)
    assert all(folder.exists() for folder in kept)
    assert (link.is_symlink(), (target / "keep").exists()) == (True, True)


def test_a_recorder_that_cannot_start_says_why_and_leaves_nothing_running(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(RecordingError, match="mitmdump did not start") as info:
            Recorder(tmp_path / "x.yaml", upstream="http://127.0.0.1:9", port=port).start()
    assert str(port) in str(info.value)  # mitmdump's own complaint is included
    with pytest.raises(ConfigurationError, match="upstream must be an http"):
        Recorder(tmp_path / "x.yaml", upstream="ftp://example.com")
    with pytest.raises(ConfigurationError, match="at least 4") as short:
        Recorder(tmp_path / "x.yaml", secrets={"PIN": "123"})
    assert "123" not in str(short.value)
    with pytest.raises(RecordingError, match="not running"):
        _ = Recorder(tmp_path / "x.yaml").base_url
