"""A tiny Server-Sent Events server on 127.0.0.1 for the stream consumer's wire tests.

Hand-written so that each fault is exact: connection ``k`` sends ``cuts[k]`` events (the last
entry repeats; None: all of them and a proper end), then closes mid-body (``"close"``: the
chunked body never ends) or resets (``"reset"``). ``honour`` makes it resume after the
``Last-Event-ID`` it is sent; otherwise it replays from the start. Every request's headers are
kept in ``requests``.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from _loopback_server import abort, read_request


@dataclass
class Script:
    events: list[tuple[str, str]]  # (id, full event text without the blank line)
    cuts: list[int | None] = field(default_factory=lambda: [None])
    ending: str = "close"
    honour: bool = True
    head: str = ""  # sent first on every connection (a retry: field, a comment)
    status: str = "200 OK"
    #: Status lines of the first connections (then ``status``); each such answer has no body.
    refusals: list[str] = field(default_factory=list)
    content_type: str = "text/event-stream"
    stall: float = 0.0  # seconds of silence after the cut instead of closing
    requests: list[dict[str, str]] = field(default_factory=list)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        conn: socket.socket = self.request
        request = read_request(conn)
        if request is None:
            return
        headers = request[1]
        script = self.server.script
        with self.server.lock:
            number = len(script.requests)
            script.requests.append(headers)
        if number < len(script.refusals):
            answer = f"HTTP/1.1 {script.refusals[number]}\r\nContent-Length: 0\r\n\r\n"
            conn.sendall(answer.encode())
            return
        number -= len(script.refusals)
        cut = script.cuts[min(number, len(script.cuts) - 1)]
        events = script.events
        resume = headers.get("last-event-id")
        if script.honour and resume is not None:
            ids = [event_id for event_id, _ in events]
            events = events[ids.index(resume) + 1 :] if resume in ids else events
        sent = events if cut is None else events[:cut]
        head = (
            f"HTTP/1.1 {script.status}\r\nContent-Type: {script.content_type}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        )
        body = script.head + "".join(text + "\n\n" for _, text in sent)
        payload = head.encode()
        if body:
            raw = body.encode()
            payload += f"{len(raw):x}\r\n".encode() + raw + b"\r\n"
        if cut is None:
            conn.sendall(payload + b"0\r\n\r\n")
            return
        conn.sendall(payload)
        if script.stall:
            threading.Event().wait(script.stall)  # real time, whatever clock is patched
        if script.ending == "reset":
            abort(conn)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, script: Script) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = script
        self.lock = threading.Lock()


@contextmanager
def serve(script: Script) -> Iterator[str]:
    """Serve ``script``; yield the URL of its stream."""
    server = _Server(script)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/stream"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def numbered(n: int, prefix: str = "") -> list[tuple[str, str]]:
    """``n`` events with ids 1..n and data ``event i``."""
    return [(str(i), f"{prefix}id: {i}\ndata: event {i}") for i in range(1, n + 1)]
