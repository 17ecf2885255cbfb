"""Cassettes recorded from httpx2 traffic through a real mitmdump replay with httpx2 and httpx
(the cassette player) and with plain vcrpy (httpx and requests: vcrpy patches no httpx2).

mitmproxy cannot be installed beside httpx2 (h11 pins; see noxfile.py): the client runs here,
mitmdump runs from another environment found on PATH (`nox -s httpx2` appends .venv/bin), the
way a user records from a separate tool environment. Where mitmdump must be found
(APIHARNESS_NEED_MITMDUMP=1, set by the nox session) its absence fails instead of skipping.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from apiharness.recording import Cassette, CassettePlayer, Recorder
from apiharness.upstream import Upstream, respond

httpx2 = pytest.importorskip("httpx2")

if shutil.which("mitmdump") is None and not os.environ.get("APIHARNESS_NEED_MITMDUMP"):
    pytest.skip("mitmdump is not on PATH (make httpx2 provides it)", allow_module_level=True)


def api() -> Upstream:
    up = Upstream(base_url="http://api.test")
    up.get("/v1/items").respond(respond(200, json=[{"id": 1}], headers={"X-Page": "1"}))
    up.post("/v1/items").respond(lambda r: respond(201, content=r.content))
    return up


def scenario(client: Any) -> list[tuple[int, bytes]]:
    """The same exchanges through any client with httpx's calling convention."""
    got = client.get("/v1/items?page=1")
    made = client.post("/v1/items", json={"name": "widget"})
    return [(got.status_code, got.content), (made.status_code, made.content)]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[Any]]:
    cassette = tmp_path_factory.mktemp("rec") / "httpx2.yaml"
    with api().serve() as server:
        with (
            Recorder(cassette, upstream=server.base_url) as rec,
            httpx2.Client(base_url=rec.base_url, timeout=30) as client,
        ):
            live = scenario(client)
        origin = server.base_url
    return cassette, origin, live


def test_the_httpx2_exchanges_are_in_the_cassette(recorded: tuple[Path, str, list[Any]]) -> None:
    cassette, _, live = recorded
    loaded = Cassette.load(cassette)
    assert [i.request.method for i in loaded.interactions] == ["GET", "POST"]
    assert [i.response.status for i in loaded.interactions] == [s for s, _ in live]
    assert live == [(200, b'[{"id":1}]'), (201, b'{"name":"widget"}')]


@pytest.mark.parametrize("name", ["httpx2", "httpx"])
def test_the_player_replays_it_to_either_stack(
    recorded: tuple[Path, str, list[Any]], name: str
) -> None:
    stack = pytest.importorskip(name)
    cassette, origin, live = recorded
    player = CassettePlayer(cassette)
    with stack.Client(base_url=origin, transport=player) as client:
        assert scenario(client) == live
    assert player.index.all_played


def test_plain_vcrpy_replays_it_with_httpx_and_requests(
    recorded: tuple[Path, str, list[Any]],
) -> None:
    vcr = pytest.importorskip("vcr")
    httpx = pytest.importorskip("httpx")
    requests = pytest.importorskip("requests")
    cassette, origin, live = recorded  # the server is gone: only the cassette can answer
    replay = vcr.VCR(record_mode="none")
    with replay.use_cassette(str(cassette)), httpx.Client(base_url=origin) as client:
        assert scenario(client) == live
    with replay.use_cassette(str(cassette)), requests.Session() as session:
        got = session.get(origin + "/v1/items?page=1")
        made = session.post(origin + "/v1/items", json={"name": "widget"})
    # requests serialises JSON with spaces; vcrpy matches on method and URL, not the body
    assert [(got.status_code, got.content), (made.status_code, made.content)] == live
