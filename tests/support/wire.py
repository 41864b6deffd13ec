"""A raw-socket client of a running `adminctl serve`, for the tests of what it answers at
the connection: bytes sent as they are, what comes back read until the server closes the
connection (and when it did), and split into answers."""

from __future__ import annotations

import json
import select
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.serving import Served

#: Guards against a hang: a server that waits for good. Never a measure of speed.
GUARD_S = 20.0
#: The tenant the embedded database is seeded with.
TENANT_ID = "apollo-chennai"
TENANTS = "/api/v1/admin/tenants"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Server:
    port: int
    token: str
    #: What the server printed (stdout and stderr together).
    log: Path

    @classmethod
    def of(cls, served: Served) -> Server:
        return cls(port=served.port, token=served.token(), log=served.log)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=GUARD_S)

    def exchange(self, *requests: bytes) -> list[Answer]:
        """The answers to `requests`, sent at once on one connection, until it closes."""
        with self.connect() as client:
            client.sendall(b"".join(requests))
            raw, _ = read_until_closed(client)
            return answers(raw)

    def tenant_name(self) -> str:
        response = httpx.get(
            f"http://127.0.0.1:{self.port}{TENANTS}",
            params={"tenant_id": TENANT_ID},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=GUARD_S,
        )
        assert response.status_code == 200, response.text
        [tenant] = response.json()["data"]["tenants"]
        name: str = tenant["name"]
        return name


def read_until_closed(
    client: socket.socket, *, trickle: bytes = b"", every_s: float = 0.4
) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long after the
    call it closed it, sending `trickle` a byte every `every_s` meanwhile; the guard fails a
    server that never closes it."""
    start = time.monotonic()
    received, pending = b"", trickle
    while time.monotonic() - start < GUARD_S:
        readable, _, _ = select.select([client], [], [], every_s)
        if readable:
            try:
                chunk = client.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return received, time.monotonic() - start
            received += chunk
        elif pending:
            try:
                client.sendall(pending[:1])
            except (BrokenPipeError, ConnectionResetError):
                pending = b""
            pending = pending[1:]
    pytest.fail(f"the connection was still open after {GUARD_S:g} s; received {received!r}")


def answers(raw: bytes) -> list[Answer]:
    """The answers in `raw`, each framed by its Content-Length, their bodies read as JSON."""
    found = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        length = int(headers.get("content-length", "0"))
        body = rest[:length]
        found.append(
            Answer(int(status_line.split()[1]), headers, json.loads(body) if body else None)
        )
        raw = rest[length:]
    return found


def only_answer(raw: bytes) -> Answer:
    found = answers(raw)
    assert len(found) == 1, raw
    return found[0]


def request(method: str, target: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def closing_in_envelope(answer: Answer, status: int, code: str) -> None:
    """`answer` is the error envelope with this status and code, and closes the connection."""
    assert answer.status == status, answer
    assert answer.headers["content-type"] == "application/json", answer
    assert answer.headers["connection"] == "close", answer
    assert answer.body["success"] is False
    assert [e["code"] for e in answer.body["errors"]] == [code], answer.body
    assert answer.headers["x-request-id"] == answer.body["meta"]["request_id"]
