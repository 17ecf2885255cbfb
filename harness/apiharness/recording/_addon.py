"""The mitmproxy addon that records flows into a VCR.py cassette, redacted.

Shaped like mitmproxy's own ``savehar`` addon: options declared in ``load()``, checked in
``configure()`` (a bad value stops mitmdump before it listens), flows collected in
``response``/``error``, the cassette written atomically once, in ``done()``, which mitmproxy
also runs on Ctrl-C and SIGTERM. ``running()`` publishes the port the proxy really listens on
(``--listen-port 0`` picks a free one) to a small JSON file the launcher waits for.

Bodies are stored decoded (gzip, deflate, brotli, zstd — whatever mitmproxy decodes) and
``Content-Encoding``/``Transfer-Encoding`` are dropped with ``Content-Length`` set to the stored
body: a cassette recorded from one client then replays in every client (NOTES.md: raw gzip
broke requests, requests-recorded gzip broke httpx).

Usage outside apiharness: ``mitmdump -s plugins/record_vcr.py --set vcr_cassette=api.yaml``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from mitmproxy import ctx, exceptions, http
from mitmproxy.addonmanager import Loader

from apiharness._io import atomic_write
from apiharness.errors import ApiHarnessError
from apiharness.recording._cassette import (
    Cassette,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    replace_header,
)
from apiharness.recording._redact import Redactor

__all__ = ["RecordVCR", "interaction_from_flow"]

logger = logging.getLogger(__name__)

# Framing headers that describe the bytes on the wire, not the stored (decoded) body.
_FRAMING = ("content-encoding", "transfer-encoding")


def interaction_from_flow(flow: http.HTTPFlow) -> Interaction | None:
    """The flow as a cassette interaction, bodies decoded; None if it has no response."""
    if flow.response is None:
        return None
    request, response = flow.request, flow.response
    request_body = request.get_content(strict=False)
    return Interaction(
        RecordedRequest(
            method=request.method,
            uri=request.url,
            headers=tuple(request.headers.items(multi=True)),
            body=request_body or None,
        ),
        RecordedResponse(
            status=response.status_code,
            reason=response.reason,
            headers=_stored_headers(response, request.method),
            body=_decoded(response),
        ),
    )


def _decoded(message: http.Message) -> bytes:
    try:
        return message.get_content(strict=True) or b""
    except ValueError:
        return message.raw_content or b""


def _stored_headers(response: http.Response, method: str) -> tuple[tuple[str, str], ...]:
    headers = tuple(response.headers.items(multi=True))
    try:
        response.get_content(strict=True)
    except ValueError:
        # An encoding mitmproxy cannot decode: keep the bytes and the header that explains them.
        return headers
    had_length = any(name.lower() in {"content-length", *_FRAMING} for name, _ in headers)
    for name in _FRAMING:
        headers = replace_header(headers, name, None)
    if had_length and method != "HEAD" and response.status_code not in {204, 304}:
        headers = replace_header(headers, "Content-Length", str(len(_decoded(response))))
    return headers


class RecordVCR:
    """Record every HTTP exchange through mitmproxy into one VCR.py cassette.

    Options (``--set name=value``): ``vcr_cassette`` (path; recording is off while empty),
    ``vcr_append`` (keep the cassette's interactions and add the new ones), ``vcr_redact``
    (default true), ``vcr_redact_headers`` / ``vcr_redact_params`` / ``vcr_redact_fields``
    (extra names to redact), ``vcr_ready_file`` (where to write ``{"port": N}`` once listening),
    ``vcr_progress_file`` (where to write ``{"recorded": N}`` as flows are recorded).
    """

    def __init__(self) -> None:
        self.interactions: list[Interaction] = []
        self.redactor = Redactor()
        self.existing = Cassette()

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
            "vcr_progress_file", str, "", 'Write {"recorded": N} here after each recorded flow.'
        )

    def configure(self, updated: set[str]) -> None:
        options = ctx.options
        redaction = {"vcr_redact", "vcr_redact_headers", "vcr_redact_params", "vcr_redact_fields"}
        if updated & redaction:
            try:
                base = Redactor() if options.vcr_redact else Redactor.disabled()
                self.redactor = base.with_extra(
                    headers=options.vcr_redact_headers,
                    query_params=options.vcr_redact_params,
                    body_fields=options.vcr_redact_fields,
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
        if not ctx.options.vcr_ready_file:
            return
        server = ctx.master.addons.get("proxyserver")
        addresses = server.listen_addrs() if server is not None else []
        port = addresses[0][1] if addresses else None
        atomic_write(ctx.options.vcr_ready_file, json.dumps({"port": port}))

    def response(self, flow: http.HTTPFlow) -> None:
        if not ctx.options.vcr_cassette:
            return
        interaction = interaction_from_flow(flow)
        if interaction is not None:
            self.interactions.append(self.redactor.redact(interaction))
            if ctx.options.vcr_progress_file:
                progress = {"recorded": len(self.interactions)}
                atomic_write(ctx.options.vcr_progress_file, json.dumps(progress))

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None:
            self.response(flow)
        else:
            # VCR.py cassettes hold responses only; a failed exchange cannot be replayed.
            logger.warning("not recorded (no response): %s", flow.error)

    def done(self) -> None:
        if not ctx.options.vcr_cassette:
            return
        cassette = Cassette([*self.existing.interactions, *self.interactions])
        cassette.save(ctx.options.vcr_cassette)
        logger.info("wrote %d interactions to %s", len(cassette), ctx.options.vcr_cassette)
