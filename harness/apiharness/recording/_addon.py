"""The mitmproxy addon that records flows into a VCR.py cassette, redacted.

Shaped like mitmproxy's own ``savehar`` addon: options declared in ``load()``, checked in
``configure()`` (a bad value stops mitmdump before it listens), flows collected in
``response``/``error``, the cassette written atomically once, in ``done()``, which mitmproxy
also runs on Ctrl-C and SIGTERM. ``running()`` publishes the port the proxy really listens on
(``--listen-port 0`` picks a free one) to a small JSON file the launcher waits for.

Bodies are stored decoded (any stack of gzip, deflate, br, zstd, see :mod:`._bodies`) and
``Content-Encoding``/``Transfer-Encoding`` are dropped with ``Content-Length`` set to the stored
body: a cassette recorded from one client then replays in every client (NOTES.md: raw gzip
broke requests, requests-recorded gzip broke httpx).

Redaction runs once, when the cassette is written: values found in any interaction are scrubbed
from all of them (a token issued by the last response may have been echoed by the first), and
the leak gate then checks the cassette for every one of them before it is written.

Usage outside apiharness: ``mitmdump -s plugins/record_vcr.py --set vcr_cassette=api.yaml``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

from mitmproxy import ctx, exceptions, http
from mitmproxy.addonmanager import Loader

from apiharness._io import atomic_write
from apiharness.errors import ApiHarnessError, ConfigurationError, SecretLeakError
from apiharness.recording._bodies import decode_message, is_streamed
from apiharness.recording._cassette import (
    Cassette,
    Headers,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    replace_header,
)
from apiharness.recording._leaks import find_leaks, secrets_from_env
from apiharness.recording._recorder import SECRETS_VARIABLE
from apiharness.recording._redact import Redactor

__all__ = ["ChunkTap", "RecordVCR", "declared_secrets", "interaction_from_flow"]

logger = logging.getLogger(__name__)

# Framing headers that describe the bytes on the wire, not the stored (decoded) body.
_FRAMING = ("content-encoding", "transfer-encoding")


_TAP = "apiharness_chunks"


class ChunkTap:
    """mitmproxy's ``flow.response.stream`` callable: forwards each piece at once (the client
    sees the stream live) and notes its bytes and the seconds since the previous piece."""

    def __init__(self) -> None:
        self.pieces: list[tuple[float, bytes]] = []
        self.last = time.monotonic()

    def __call__(self, data: bytes) -> bytes:
        if data:
            now = time.monotonic()
            self.pieces.append((round(now - self.last, 3), data))
            self.last = now
        return data

    @property
    def body(self) -> bytes:
        return b"".join(data for _, data in self.pieces)


def interaction_from_flow(flow: http.HTTPFlow) -> Interaction | None:
    """The flow as a cassette interaction, bodies decoded; None if it has no response.

    A streamed response (tapped by :class:`ChunkTap`) keeps its chunks and their timing when
    its stored body is its bytes on the wire (no content coding to undo).
    """
    if flow.response is None:
        return None
    request, response = flow.request, flow.response
    request_headers, request_body = _stored(
        tuple(request.headers.items(multi=True)), request.raw_content or b"", None
    )
    tap = flow.metadata.get(_TAP)
    raw = tap.body if isinstance(tap, ChunkTap) else response.raw_content or b""
    response_headers, response_body = _stored(
        tuple(response.headers.items(multi=True)), raw, (request.method, response.status_code)
    )
    chunks: tuple[tuple[float, int], ...] = ()
    if isinstance(tap, ChunkTap) and response_body == raw:
        chunks = tuple((wait, len(data)) for wait, data in tap.pieces)
    return Interaction(
        RecordedRequest(
            method=request.method,
            uri=request.url,
            headers=request_headers,
            body=request_body or None,
        ),
        RecordedResponse(
            status=response.status_code,
            reason=response.reason,
            headers=response_headers,
            body=response_body,
            chunks=chunks,
        ),
    )


def _stored(
    headers: Headers, body: bytes, answering: tuple[str, int] | None
) -> tuple[Headers, bytes]:
    """Headers and body as a cassette stores them: decoded, unframed, the length of the body.

    A body whose codings cannot be undone keeps its bytes and the header that explains them.
    """
    had_length = any(name.lower() in {"content-length", *_FRAMING} for name, _ in headers)
    headers, decoded = decode_message(headers, body)
    headers = replace_header(headers, "Transfer-Encoding", None)
    body = decoded or b""
    bodiless = answering is not None and (answering[0] == "HEAD" or answering[1] in {204, 304})
    if had_length and not bodiless:
        headers = replace_header(headers, "Content-Length", str(len(body)))
    return headers, body


class RecordVCR:
    """Record every HTTP exchange through mitmproxy into one VCR.py cassette.

    Options (``--set name=value``): ``vcr_cassette`` (path; recording is off while empty),
    ``vcr_append`` (keep the cassette's interactions and add the new ones), ``vcr_redact``
    (default true), ``vcr_redact_headers`` / ``vcr_redact_params`` / ``vcr_redact_fields``
    (extra names to redact), ``vcr_ready_file`` (where to write ``{"port": N}`` once listening),
    ``vcr_progress_file`` (where to write ``{"recorded": N}`` as flows are recorded),
    ``vcr_parent_pid`` (shut down, writing the cassette, once that process is gone).
    """

    def __init__(self) -> None:
        self.interactions: list[Interaction] = []  # as recorded: redacted when written
        self.redactor = Redactor()
        self.redacting = True
        self.existing = Cassette()
        self._watch: asyncio.Task[None] | None = None

    def load(self, loader: Loader) -> None:
        loader.add_option("vcr_cassette", str, "", "Write recorded flows to this VCR.py cassette.")
        loader.add_option(
            "vcr_append", bool, False, "Keep the cassette's interactions, add new ones after."
        )
        loader.add_option("vcr_redact", bool, True, "Redact secrets before writing.")
        loader.add_option("vcr_redact_headers", Sequence[str], [], "More header names to redact.")
        loader.add_option(
            "vcr_redact_params", Sequence[str], [], "More query/form parameter names to redact."
        )
        loader.add_option(
            "vcr_redact_fields", Sequence[str], [], "More JSON field names to redact."
        )
        loader.add_option(
            "vcr_ready_file", str, "", 'Write {"port": N} here once the proxy listens.'
        )
        loader.add_option(
            "vcr_error_file", str, "", "Write why here if the cassette could not be written."
        )
        loader.add_option(
            "vcr_progress_file", str, "", 'Write {"recorded": N} here after each recorded flow.'
        )
        loader.add_option(
            "vcr_parent_pid",
            int,
            0,
            "Shut down (writing the cassette) when this parent process is gone; 0: never.",
        )

    def configure(self, updated: set[str]) -> None:
        options = ctx.options
        redaction = {"vcr_redact", "vcr_redact_headers", "vcr_redact_params", "vcr_redact_fields"}
        if updated & redaction:
            try:
                self.redacting = bool(options.vcr_redact)
                base = Redactor() if self.redacting else Redactor.disabled()
                self.redactor = base.with_extra(
                    headers=options.vcr_redact_headers,
                    query_params=options.vcr_redact_params,
                    body_fields=options.vcr_redact_fields,
                    secrets=declared_secrets() if self.redacting else None,
                )
            except ApiHarnessError as exc:
                raise exceptions.OptionsError(f"vcr_redact_*: {exc}") from None
        if updated & {"vcr_cassette", "vcr_append"} and options.vcr_cassette:
            path = Path(options.vcr_cassette)
            if path.is_dir():
                raise exceptions.OptionsError(f"vcr_cassette {path} is a folder; name a file")
            self.existing = Cassette(path=path)
            if options.vcr_append and path.exists():
                try:
                    self.existing = Cassette.load(path)
                except ApiHarnessError as exc:
                    raise exceptions.OptionsError(f"vcr_append: {exc}") from None

    def running(self) -> None:
        if ctx.options.vcr_parent_pid:
            self._watch = asyncio.get_running_loop().create_task(
                _follow_parent(ctx.options.vcr_parent_pid)
            )
        if not ctx.options.vcr_ready_file:
            return
        server = ctx.master.addons.get("proxyserver")
        addresses = server.listen_addrs() if server is not None else []
        port = addresses[0][1] if addresses else None
        atomic_write(ctx.options.vcr_ready_file, json.dumps({"port": port}))

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Stream event streams through (a buffered SSE would reach the client only at its
        end), tapping their chunks for the cassette."""
        if not ctx.options.vcr_cassette or flow.response is None:
            return
        if is_streamed(flow.response.headers.get("content-type", "")):
            tap = ChunkTap()
            flow.metadata[_TAP] = tap
            flow.response.stream = tap

    def response(self, flow: http.HTTPFlow) -> None:
        if not ctx.options.vcr_cassette:
            return
        interaction = interaction_from_flow(flow)
        if interaction is not None:
            self.interactions.append(interaction)
            if ctx.options.vcr_progress_file:
                progress = {"recorded": len(self.interactions)}
                atomic_write(ctx.options.vcr_progress_file, json.dumps(progress))

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None:
            self.response(flow)
        else:
            # VCR.py cassettes hold responses only; a failed exchange cannot be replayed.
            logger.warning("not recorded (no response): %s", flow.error)

    def cassette(self) -> Cassette:
        """The cassette to write: every interaction redacted (both passes), checked by the gate.

        Raises :class:`SecretLeakError` if the gate finds any value the redactor found or was
        given, or a body it cannot decode: such a cassette is never written.
        """
        if not self.redacting:
            return Cassette([*self.existing.interactions, *self.interactions])
        interactions, values = self.redactor.redact_recording(
            self.interactions, earlier=self.existing.interactions
        )
        cassette = Cassette(interactions)
        leaks = find_leaks(cassette.to_yaml().encode("utf-8"), values, path="the recording")
        if leaks:
            lines = "\n".join(f"  - {leak}" for leak in leaks)
            raise SecretLeakError(
                f"the cassette was not written: the leak gate found {len(leaks)} problem(s):\n"
                f"{lines}\nAsk the API for an encoding apiharness decodes (Accept-Encoding), "
                "or record with --no-redact if nothing secret passes.",
                leaks,
            )
        return cassette

    def done(self) -> None:
        if not ctx.options.vcr_cassette:
            return
        try:
            cassette = self.cassette()
        except SecretLeakError as exc:
            logger.error("%s", exc)
            if ctx.options.vcr_error_file:
                atomic_write(ctx.options.vcr_error_file, str(exc))
            return
        cassette.save(ctx.options.vcr_cassette)
        logger.info("wrote %d interactions to %s", len(cassette), ctx.options.vcr_cassette)


#: Seconds between two looks at whether the parent process still exists.
PARENT_POLL = 0.25


async def _follow_parent(parent: int) -> None:
    """Shut mitmdump down, as SIGTERM does, once ``parent`` is no longer its parent.

    A recorder killed with SIGKILL cannot stop its mitmdump; without this the proxy would
    outlive it, holding its port, and the recording would never be written. A dead parent's
    children are re-parented (to init or a subreaper), so the parent pid changes.
    """
    # Polled: nothing announces a parent's death portably (pidfd is Linux-only).
    while os.getppid() == parent:  # noqa: ASYNC110
        await asyncio.sleep(PARENT_POLL)
    logger.warning("the recorder (pid %d) is gone; writing the cassette and stopping", parent)
    ctx.master.shutdown()


def declared_secrets() -> dict[str, str]:
    """The secrets this mitmdump redacts by value besides what it finds by place.

    Those handed over in :data:`SECRETS_VARIABLE`, and the environment variables whose names
    look secret (:func:`secrets_from_env`), which the leak gate looks for too.
    """
    handed = os.environ.get(SECRETS_VARIABLE, "")
    try:
        given = json.loads(handed) if handed else {}
    except ValueError:
        raise ConfigurationError(f"{SECRETS_VARIABLE} must hold a JSON object") from None
    if not isinstance(given, dict) or not all(isinstance(v, str) for v in given.values()):
        raise ConfigurationError(f"{SECRETS_VARIABLE} must map names to string values")
    environment = {k: v for k, v in secrets_from_env().items() if k != SECRETS_VARIABLE}
    return {**environment, **given}
