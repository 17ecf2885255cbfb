"""The indexed player: vcrpy's matching and play order, as an httpx and an httpx2 transport."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiharness.errors import UnmatchedRequestError
from apiharness.recording import (
    Cassette,
    CassetteIndex,
    CassettePlayer,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    match_key,
)


def recording(method: str, uri: str, body: bytes, status: int = 200) -> Interaction:
    return Interaction(
        RecordedRequest(method, uri),
        RecordedResponse(status, "OK", (("Content-Type", "text/plain"),), body),
    )


CASSETTE = Cassette(
    [
        recording("GET", "https://api.test/items?b=2&a=1", b"first"),
        recording("GET", "https://api.test/items?a=1&b=2", b"second"),
        recording("POST", "https://api.test/items", b"created", 201),
        recording("GET", "https://api.test:443/other?token=REDACTED", b"other"),
    ]
)


def test_sync_replay_in_recorded_order_each_once(stack: ModuleType) -> None:
    with stack.Client(transport=CassettePlayer(CASSETTE)) as client:
        assert client.get("https://api.test/items?a=1&b=2").text == "first"
        assert client.get("https://API.test:443/items?b=2&a=1").text == "second"
        created = client.post("https://api.test/items", json={"x": 1})
        assert (created.status_code, created.text) == (201, "created")
        # the live secret is redacted before matching, and never shown in the error
        assert client.get("https://api.test/other?token=live-secret-1").text == "other"
        with pytest.raises(UnmatchedRequestError) as info:
            client.get("https://api.test/other?token=live-secret-1")
    assert "token=REDACTED" in str(info.value)
    assert "live-secret-1" not in str(info.value)


def test_async_replay_and_repeats(tmp_path: Path, stack: ModuleType) -> None:
    path = CASSETTE.save(tmp_path / "c.yaml")
    player = CassettePlayer(path, allow_repeats=True)

    async def main() -> list[str]:
        async with stack.AsyncClient(transport=player) as client:
            return [(await client.get("https://api.test/items?a=1&b=2")).text for _ in range(3)]

    assert asyncio.run(main()) == ["first", "second", "second"]
    player.index.rewind()
    assert not player.index.all_played


@given(
    st.lists(st.tuples(st.sampled_from("ab"), st.sampled_from("xy")), max_size=4),
    st.randoms(use_true_random=False),
)
def test_match_key_ignores_query_order_only(pairs: list[tuple[str, str]], rnd: object) -> None:
    shuffled = list(pairs)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    query = "&".join(f"{k}={v}" for k, v in pairs)
    other = "&".join(f"{k}={v}" for k, v in shuffled)
    assert match_key("get", f"http://h/p?{query}") == match_key("GET", f"http://h:80/p?{other}")
    assert match_key("GET", "http://h/p") != match_key("GET", "https://h/p")
    assert match_key("GET", "http://h/p") != match_key("GET", "http://h/q")


def test_index_without_match_returns_none() -> None:
    index = CassetteIndex(CASSETTE)
    assert index.play("DELETE", "https://api.test/items") is None
