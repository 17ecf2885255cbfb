"""The mitmproxy addon, driven by mitmproxy's own test helpers (no proxy, no sockets)."""

from __future__ import annotations

import asyncio
import gzip
import json
import runpy
from pathlib import Path

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons, tflow, tutils

from apiharness.errors import SecretLeakError
from apiharness.recording import Cassette
from apiharness.recording._scrub import Needles
from apiharness.recording.addon import RecordVCR, interaction_from_flow


def gzip_flow(body: bytes, *, encoding: str = "gzip") -> object:
    flow = tflow.tflow(
        req=tutils.treq(
            method=b"POST",
            path=b"/v1/login?api_key=live-key-123",
            headers=[
                (b"authorization", b"Bearer live-token-456"),
                (b"content-type", b"application/json"),
            ],
            content=json.dumps({"password": "pw-live-789"}).encode(),
        ),
        resp=tutils.tresp(
            headers=[
                (b"content-type", b"application/json"),
                (b"content-encoding", encoding.encode()),
                (b"transfer-encoding", b"chunked"),
            ],
            content=b"",
        ),
    )
    assert flow.response is not None
    flow.response.raw_content = body
    return flow


def test_flows_are_decoded_redacted_and_written_in_done(tmp_path: Path) -> None:
    cassette = tmp_path / "out.yaml"
    payload = json.dumps({"access_token": "acc-live-000", "n": 1}).encode()

    async def record() -> None:
        addon = RecordVCR()
        with taddons.context(addon) as tctx:
            tctx.configure(addon, vcr_cassette=str(cassette))
            await tctx.cycle(addon, gzip_flow(gzip.compress(payload)))
            await tctx.cycle(addon, tflow.tflow(err=True))  # no response: nothing to replay
            assert not cassette.exists()  # written once, at the end
            addon.done()

    asyncio.run(record())
    data = cassette.read_bytes()
    for secret in (b"live-key-123", b"live-token-456", b"pw-live-789", b"acc-live-000"):
        assert secret not in data
    [interaction] = Cassette.load(cassette).interactions
    assert interaction.request.uri.endswith("/v1/login?api_key=REDACTED")
    response = interaction.response
    assert json.loads(response.body) == {"access_token": "REDACTED", "n": 1}
    names = {name.lower() for name, _ in response.headers}
    assert not names & {"content-encoding", "transfer-encoding"}
    assert dict(response.headers)["Content-Length"] == str(len(response.body))


def test_an_undecodable_body_keeps_its_bytes_and_its_encoding() -> None:
    interaction = interaction_from_flow(gzip_flow(b"not gzip at all"))  # type: ignore[arg-type]
    assert interaction is not None
    assert interaction.response.body == b"not gzip at all"
    assert ("content-encoding", "gzip") in interaction.response.headers


def test_append_keeps_earlier_interactions_and_redaction_can_be_configured(
    tmp_path: Path,
) -> None:
    cassette = tmp_path / "out.yaml"

    async def record(**options: object) -> None:
        addon = RecordVCR()
        with taddons.context(addon) as tctx:
            tctx.configure(addon, vcr_cassette=str(cassette), **options)
            await tctx.cycle(addon, tflow.tflow(resp=True))
            addon.done()

    asyncio.run(record())
    # tutils' requests carry a "header: qvalue" field.
    asyncio.run(record(vcr_append=True, vcr_redact_headers=["header"]))
    first, second = Cassette.load(cassette).interactions
    assert dict(first.request.headers)["header"] == "qvalue"
    assert dict(second.request.headers)["header"] == "REDACTED"


def test_bad_options_stop_mitmproxy_before_it_listens(tmp_path: Path) -> None:
    addon = RecordVCR()
    with taddons.context(addon) as tctx:
        with pytest.raises(exceptions.OptionsError, match="is a folder"):
            tctx.configure(addon, vcr_cassette=str(tmp_path))
        corrupt = tmp_path / "corrupt.yaml"
        corrupt.write_text("version: 7\ninteractions: []\n")
        with pytest.raises(exceptions.OptionsError, match="version 7 is not supported"):
            tctx.configure(addon, vcr_cassette=str(corrupt), vcr_append=True)
        with pytest.raises(exceptions.OptionsError, match="non-empty strings"):
            tctx.configure(addon, vcr_redact_fields=[" "])


def test_the_mitmdump_shim_loads_the_addon() -> None:
    shim = Path(__file__).parents[2] / "plugins" / "record_vcr.py"
    assert len(shim.read_text().splitlines()) < 15  # a shim, the logic stays in the package
    [addon] = runpy.run_path(str(shim))["addons"]
    assert isinstance(addon, RecordVCR)


def test_a_cassette_the_gate_cannot_vouch_for_is_not_written(tmp_path: Path) -> None:
    cassette, error = tmp_path / "out.yaml", tmp_path / "error.txt"

    async def record() -> None:
        addon = RecordVCR()
        with taddons.context(addon) as tctx:
            tctx.configure(addon, vcr_cassette=str(cassette), vcr_error_file=str(error))
            # "compress" (LZW) is a coding nobody decodes any more: the body cannot be read.
            await tctx.cycle(addon, gzip_flow(b"\x1f\x9d\x90live-token-456", encoding="compress"))
            addon.done()

    asyncio.run(record())
    assert not cassette.exists()
    reason = error.read_text()
    assert "cannot be decoded" in reason
    assert "compress" in reason
    assert "live-token-456" not in reason


def test_values_found_in_any_interaction_are_scrubbed_from_all(tmp_path: Path) -> None:
    cassette = tmp_path / "out.yaml"
    # The first response echoes a token that only the second request sends in a secret place.
    echo = tflow.tflow(resp=tutils.tresp(content=b"your token: late-token-0123456789"))
    later = tflow.tflow(
        req=tutils.treq(path=b"/v1/x?access_token=late-token-0123456789"), resp=True
    )

    async def record() -> None:
        addon = RecordVCR()
        with taddons.context(addon) as tctx:
            tctx.configure(addon, vcr_cassette=str(cassette))
            await tctx.cycle(addon, echo)
            await tctx.cycle(addon, later)
            addon.done()

    asyncio.run(record())
    first, second = Cassette.load(cassette).interactions
    assert first.response.body == b"your token: REDACTED"
    assert second.request.uri.endswith("/v1/x?access_token=REDACTED")


def test_the_gate_looks_for_every_value_redaction_found(monkeypatch: pytest.MonkeyPatch) -> None:
    # Were the second pass to miss an echo, the gate would still refuse the cassette: it looks
    # for the values the first pass found, not only for declared secrets.
    monkeypatch.setattr(Needles, "replace", lambda self, haystack, placeholder: haystack)
    addon = RecordVCR()
    interaction = interaction_from_flow(
        tflow.tflow(
            req=tutils.treq(path=b"/v1/x?api_key=found-key-0123456789"),
            resp=tutils.tresp(content=b"echo: found-key-0123456789"),
        )
    )
    assert interaction is not None
    addon.interactions = [interaction]
    with pytest.raises(SecretLeakError) as info:
        addon.cassette()
    assert "query parameter api_key (interaction #0)" in str(info.value)
    assert "interaction #0.response.body.string" in str(info.value)
    assert "found-key-0123456789" not in str(info.value)
