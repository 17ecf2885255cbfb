"""The fastest HTTP server Python can be: a yardstick for the loopback benchmark, not a mock.

It parses nothing (a request ends at the blank line; bodies are not supported), matches
nothing, records nothing, and answers every request with the same bytes, one blocking thread
per connection (:class:`Protocol` does the same on an asyncio event loop). Whatever it serves
per second in the test's own process is the ceiling for any in-process Python server (the
client and the server share one GIL); run as a separate process (``python -m
benchmarks._noop_server``, which prints its port) it shows what the client alone can do.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading

BODY = b'{"id":1,"name":"widget"}'
REPLY = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)


def _answer(conn: socket.socket) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pending = b""
    with conn:
        while data := conn.recv(65536):
            pending += data
            while (end := pending.find(b"\r\n\r\n")) >= 0:
                pending = pending[end + 4 :]
                conn.sendall(REPLY)


class Protocol(asyncio.Protocol):
    """The same no-op as an asyncio protocol: what an event loop alone costs per request (the
    loopback server runs on one), to tell the loop's share from the server's own work."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport, self.pending = transport, b""

    def data_received(self, data: bytes) -> None:
        self.pending += data
        while (end := self.pending.find(b"\r\n\r\n")) >= 0:
            self.pending = self.pending[end + 4 :]
            self.transport.write(REPLY)


def serve_forever(listener: socket.socket) -> None:
    """Accept connections on ``listener`` until it is closed, each in a daemon thread."""
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=_answer, args=(conn,), daemon=True).start()


def listen() -> socket.socket:
    return socket.create_server(("127.0.0.1", 0))


if __name__ == "__main__":
    server = listen()
    print(server.getsockname()[1], flush=True)
    sys.stdout.close()
    serve_forever(server)
