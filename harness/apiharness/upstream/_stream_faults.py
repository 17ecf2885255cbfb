"""HTTP/2 stream-level faults as behaviours: ``reset_stream(...)`` and ``goaway(...)``.

They are values like every other behaviour, so scripts combine them
(``route.respond(reset_stream("REFUSED_STREAM").times(2), respond(200))``). The HTTP/2 server
(:mod:`._http2`) carries them out as frames: ``RST_STREAM`` on the request's stream, or
``GOAWAY`` on its connection. HTTP/1.1 has no streams, so the loopback HTTP/1.1 server and the
in-process transport deliver the nearest HTTP/1.1 fault: the connection closes without a
response (``close()``), or, when the operation was processed, ``drop_after_processing()``.

Error codes are the names of RFC 9113 section 7.
"""

from __future__ import annotations

from apiharness.errors import DeclarationError
from apiharness.upstream._behaviours import (
    Behaviour,
    Fault,
    Respond,
    StreamFault,
    _Fixed,
    as_response,
    declared,
    respond,
)

__all__ = ["ERROR_CODES", "goaway", "reset_stream"]

# RFC 9113, section 7 (Error Codes): name -> code.
ERROR_CODES: dict[str, int] = {
    "NO_ERROR": 0x0,
    "PROTOCOL_ERROR": 0x1,
    "INTERNAL_ERROR": 0x2,
    "FLOW_CONTROL_ERROR": 0x3,
    "SETTINGS_TIMEOUT": 0x4,
    "STREAM_CLOSED": 0x5,
    "FRAME_SIZE_ERROR": 0x6,
    "REFUSED_STREAM": 0x7,
    "CANCEL": 0x8,
    "COMPRESSION_ERROR": 0x9,
    "CONNECT_ERROR": 0xA,
    "ENHANCE_YOUR_CALM": 0xB,
    "INADEQUATE_SECURITY": 0xC,
    "HTTP_1_1_REQUIRED": 0xD,
}


def _error(where: str, error: object) -> str:
    if not isinstance(error, str) or error.upper() not in ERROR_CODES:
        raise DeclarationError(
            f"{where} takes an HTTP/2 error code name of RFC 9113 section 7, got {error!r}; "
            f"one of {', '.join(ERROR_CODES)}"
        )
    return error.upper()


def _stream_behaviour(
    description: str, frame: str, error: str, processed: bool, response: Respond | None
) -> Behaviour:
    stream = StreamFault(frame, error)
    if not processed:
        return _Fixed(description, response=None, fault=Fault.CLOSE, stream_fault=stream)
    produced = as_response(f"{description}: response", response, respond(200)).response
    return _Fixed(description, response=produced, fault=Fault.DROP, stream_fault=stream)


@declared
def reset_stream(
    error: str = "REFUSED_STREAM", *, processed: bool = False, response: Respond | None = None
) -> Behaviour:
    """Reset the request's HTTP/2 stream with ``RST_STREAM(error)`` instead of answering.

    ``REFUSED_STREAM`` promises the request was not processed, so any client may retry it
    (RFC 9113 section 8.7); ``CANCEL`` and ``INTERNAL_ERROR`` promise nothing. With
    ``processed=True`` the operation is performed first (the journal counts it as processed,
    ``response`` is what was produced and never sent), which ``REFUSED_STREAM`` forbids.
    Over HTTP/1.1 and in-process: ``close()``, or ``drop_after_processing()`` when processed.
    """
    code = _error("reset_stream(error)", error)
    if processed and code == "REFUSED_STREAM":
        raise DeclarationError(
            "reset_stream('REFUSED_STREAM', processed=True) is a contradiction: REFUSED_STREAM "
            "tells the client the request was not processed (RFC 9113 section 8.7); use "
            "'CANCEL' or 'INTERNAL_ERROR' for a stream reset after processing"
        )
    shown = f"reset_stream({code!r}{', processed=True' if processed else ''})"
    return _stream_behaviour(shown, "RST_STREAM", code, processed, response)


@declared
def goaway(
    error: str = "NO_ERROR", *, processed: bool = False, response: Respond | None = None
) -> Behaviour:
    """Send ``GOAWAY(error)`` on the request's HTTP/2 connection, then close it.

    The frame's last stream id is the highest stream the server had already taken before this
    one, so this stream and every later one are unprocessed and safe to retry (RFC 9113 section
    6.8); streams at or below it are still answered before the connection closes. With
    ``processed=True`` the last stream id is this stream's own: the operation is performed
    (``response`` is what was produced) but its answer never arrives, and a client must not
    repeat it unless it is idempotent. Over HTTP/1.1 and in-process: ``close()``, or
    ``drop_after_processing()`` when processed.
    """
    code = _error("goaway(error)", error)
    shown = f"goaway({code!r}{', processed=True' if processed else ''})"
    return _stream_behaviour(shown, "GOAWAY", code, processed, response)
