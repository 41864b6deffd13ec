"""The HTTP side every local fake of a vendor API shares: a real server on 127.0.0.1 (a free
port, a thread of its own) that reads each request whole and writes the fake's answer.

A fake is a function from `Incoming` to `Reply` (None: never answer, as a server that hangs
until the client gives up). It runs on the server's thread for that request, so it may block
(a slow or hanging answer); the fake's own lock guards its state."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Incoming:
    method: str
    path: str
    query: str  # as sent, undecoded
    headers: Mapping[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        """The body as JSON; None when it is empty or not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any = None  # JSON, or text (`str`); nothing for None or a 204
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = JSON

    def data(self) -> bytes:
        if self.body is None or self.status == 204:
            return b""
        return (self.body if isinstance(self.body, str) else json.dumps(self.body)).encode()


Respond = Callable[[Incoming], Reply | None]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # concurrent tests open many connections at once


class FakeServer:
    """`respond` served on a free port until `stop()`. `keep_alive`: answer in HTTP/1.1 and
    keep connections open, as the real APIs do (clients reuse their connections)."""

    def __init__(self, respond: Respond, *, name: str, keep_alive: bool = False) -> None:
        self._server = _Server(("127.0.0.1", 0), _handler(respond, keep_alive))
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"fake-{name}",
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(respond: Respond, keep_alive: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            incoming = Incoming(
                method=self.command,
                path=split.path,
                query=split.query,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            reply = respond(incoming)
            if reply is None:
                self.close_connection = True
                return
            data = reply.data()
            try:
                self.send_response(reply.status)
                self.send_header("content-type", reply.content_type)
                self.send_header("content-length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        # The standard library dispatches on these names.
        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler
