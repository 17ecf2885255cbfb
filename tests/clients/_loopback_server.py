"""A tiny scripted HTTP/1.1 server on 127.0.0.1 for the client tests' wire faults.

Used until the harness's own loopback upstream lands; each connection serves one request and
closes, which keeps the fault handling trivial. Outcomes are served in order, the last repeats:
``(status, headers)``, ``"reset"`` (TCP RST before any response), ``"close"`` (close without a
response) or ``("hang", seconds)`` (answer 200 only after that many real seconds).
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from http import HTTPStatus

Step = tuple[int, dict[str, str]] | str | tuple[str, float]


def read_request(conn: socket.socket) -> tuple[str, dict[str, str], bytes] | None:
    """The request line, the headers (names lowercased) and the body; None if the peer left.

    Sets TCP_NODELAY first: the answer goes out at once (see NOTES on Nagle).
    """
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    while len(body) < int(headers.get("content-length", "0")):
        body += conn.recv(65536)
    return lines[0], headers, body


def abort(conn: socket.socket) -> None:
    """Make the coming close() send RST instead of FIN (SO_LINGER with a zero timeout)."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        conn: socket.socket = self.request
        request = read_request(conn)
        if request is None:
            return
        step = self.server.next_step(request[0])
        if step == "reset":
            abort(conn)
            return
        if step == "close":
            return
        if isinstance(step[0], str):
            threading.Event().wait(float(step[1]))  # real time: the clock fixture patches sleep
            status, headers = 200, {}
        else:
            status, headers = step  # type: ignore[assignment,misc]
        # 529 (Anthropic's "overloaded") is not in the IANA registry, so not in HTTPStatus.
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Other"
        text = f"body {status}".encode()
        lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(text)}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + text)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, steps: list[Step]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.steps = steps
        self.seen: list[str] = []
        self._lock = threading.Lock()

    def next_step(self, request_line: str) -> Step:
        with self._lock:
            self.seen.append(request_line)
            return self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]


@contextlib.contextmanager
def serve(*steps: Step) -> Iterator[_Server]:
    """Run the server for the block; ``server.url`` is its base URL, ``server.seen`` its log."""
    server = _Server(list(steps))
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def refused_url() -> str:
    """A loopback URL nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
