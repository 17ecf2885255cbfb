"""A small live API written for the recording tests, on 127.0.0.1, over HTTP or HTTPS.

It exercises what makes cassettes hard: a gzip-encoded JSON body, stacks of content codings
(``/stacked?c=gzip,br``: applied in that order, as ``Content-Encoding`` lists them), a chunked
body, binary bytes, a redirect, and a secret in every place the redactor covers
(Authorization, X-Api-Key, Cookie, Set-Cookie, an ``api_key`` query parameter, a JSON
``password`` request field, a JSON ``access_token`` response field and a form
``client_secret``).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import ssl
import threading
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import brotli
import zstandard

SECRETS = {
    "API_TOKEN": "tok-live-9f8e7d6c5b4a3921",
    "API_KEY": "key-3a4b5c6d7e8f9a0b",
    "SESSION": "sess-77aa88bb99cc00dd",
    "PASSWORD": "pw-Hunter2-xyzzy-plugh",
    "ACCESS_TOKEN": "acc-0011223344556677",
    "CLIENT_SECRET": "cs-ffeeddccbbaa9988",
}
BINARY = bytes(range(256)) * 4
CHUNKS = [b"first chunk\n", b"second chunk\n", b"third chunk\n"]
ITEMS = {"items": [{"id": 1, "name": "caf\u00e9"}, {"id": 2, "name": "tea"}]}
CODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": zstandard.ZstdCompressor().compress,
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Silence the default stderr log."""

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self) -> bool:
        return self.headers.get("Authorization") == f"Bearer {SECRETS['API_TOKEN']}"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if not self._authorised():
            self._send(401, b'{"error": "unauthorised"}', {"Content-Type": "application/json"})
        elif url.path == "/items":
            ok = query.get("api_key") == [SECRETS["API_KEY"]]
            ok = ok and self.headers.get("X-Api-Key") == SECRETS["API_KEY"]
            ok = ok and f"session={SECRETS['SESSION']}" in (self.headers.get("Cookie") or "")
            body = json.dumps(ITEMS if ok else {"error": "bad credentials"}).encode()
            self._send(
                200 if ok else 403,
                gzip.compress(body),
                {
                    "Content-Type": "application/json",
                    "Content-Encoding": "gzip",
                    "Set-Cookie": f"session={SECRETS['SESSION']}; Path=/; HttpOnly",
                },
            )
        elif url.path == "/stacked":
            codings = query.get("c", ["gzip"])[0].split(",")
            body = json.dumps({"layers": codings, "access_token": SECRETS["ACCESS_TOKEN"]}).encode()
            for coding in codings:
                body = CODERS[coding](body)
            self._send(
                200,
                body,
                {"Content-Type": "application/json", "Content-Encoding": ", ".join(codings)},
            )
        elif url.path == "/binary":
            self._send(200, BINARY, {"Content-Type": "application/octet-stream"})
        elif url.path == "/redirect":
            self._send(302, b"", {"Location": "/binary"})
        elif url.path == "/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in CHUNKS:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._send(404, b"not found", {"Content-Type": "text/plain"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        path = urlsplit(self.path).path
        if path == "/login":
            ok = json.loads(body).get("password") == SECRETS["PASSWORD"]
            answer = {"access_token": SECRETS["ACCESS_TOKEN"], "token_type": "bearer"}
            self._send(
                200 if ok else 403,
                json.dumps(answer if ok else {"error": "bad password"}).encode(),
                {"Content-Type": "application/json"},
            )
        elif path == "/oauth/token":
            form = parse_qs(body.decode())
            ok = form.get("client_secret") == [SECRETS["CLIENT_SECRET"]]
            self._send(
                200 if ok else 401,
                json.dumps({"granted": ok}).encode(),
                {"Content-Type": "application/json"},
            )
        else:
            self._send(404, b"not found", {"Content-Type": "text/plain"})


@contextlib.contextmanager
def serve(tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Run the API on a free loopback port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    scheme = "https" if tls is not None else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
