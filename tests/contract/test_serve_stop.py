"""SIGTERM to `adminctl serve` (an orchestrator stopping a replica, a developer's Ctrl+C):
the requests in flight are answered, the database is closed, and the process says it
stopped as asked (exit 0). A real server on an embedded SQLite file."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.serving import serving

#: Guards against a hang, never a measure of speed.
GUARD_S = 60.0


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + GUARD_S
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def test_sigterm_answers_the_request_in_flight_closes_the_database_and_exits_0(
    tmp_path: Path,
) -> None:
    db = tmp_path / "admin.sqlite"
    settings = {"ADMIN_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
    with serving(settings, tmp_path, ready="/ready") as server:
        # Another process holds the write lock: the request waits for it inside the server.
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        body = json.dumps({"name": "Apollo Chennai (renamed)"}).encode()
        head = (
            "PATCH /api/v1/admin/tenants/apollo-chennai HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {server.token()}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        client = socket.create_connection(("127.0.0.1", server.port), timeout=GUARD_S)
        try:
            client.sendall(head.encode() + body)  # in the server's hands before the SIGTERM
            time.sleep(0.2)  # lets it read them; too short fails, never passes
            server.process.send_signal(signal.SIGTERM)
            _until(
                lambda: "Waiting for connections to close" in server.output(),
                "the server stopped listening and waited for the request",
            )
            holder.execute("COMMIT")
            holder.close()
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
        finally:
            client.close()

        assert server.process.wait(GUARD_S) == 0
    # the server closed its connections: the last one to close folds the WAL into the file
    assert not Path(f"{db}-wal").exists()
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    connection = sqlite3.connect(db)
    try:
        [(name,)] = connection.execute("select name from tenants where id = 'apollo-chennai'")
    finally:
        connection.close()
    assert name == "Apollo Chennai (renamed)"
    assert "Traceback" not in server.output()
