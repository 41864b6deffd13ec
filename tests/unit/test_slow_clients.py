"""Clients that are slow or misbehave at the connection: `adminctl serve` bounds how long it
waits for them, and answers what it refuses in the error envelope (ADR 0062). A real server
on an embedded SQLite file, driven over raw sockets, with short deadlines."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from entrypoints.settings import PREFIX
from tests.support.serving import serving

HEADERS_S = 2.0
BODY_S = 2.0
KEEP_ALIVE_S = 1.0
#: How late an answer may come on a busy machine; never a measure of speed.
SLACK_S = 6.0
#: Guards against a hang: what the server did before the bounds (it waited for good).
GUARD_S = 20.0
TENANT_ID = "apollo-chennai"
TENANT = f"/api/v1/admin/tenants/{TENANT_ID}"


@dataclass(frozen=True)
class Server:
    port: int
    token: str
    log: Path

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=GUARD_S)

    def tenant_name(self) -> str:
        response = httpx.get(
            f"http://127.0.0.1:{self.port}/api/v1/admin/tenants",
            params={"tenant_id": TENANT_ID},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=GUARD_S,
        )
        assert response.status_code == 200, response.text
        [tenant] = response.json()["data"]["tenants"]
        name: str = tenant["name"]
        return name


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("slow-clients")
    settings = {
        f"{PREFIX}DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'admin.sqlite'}",
        f"{PREFIX}HTTP_HEADER_TIMEOUT_SECONDS": str(HEADERS_S),
        f"{PREFIX}HTTP_BODY_TIMEOUT_SECONDS": str(BODY_S),
        f"{PREFIX}HTTP_KEEP_ALIVE_SECONDS": str(KEEP_ALIVE_S),
    }
    with serving(settings, folder, ready="/ready") as served:
        yield Server(port=served.port, token=served.token(), log=served.log)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any
    after_s: float  # from when the client stopped to wait


def _read_until_closed(
    client: socket.socket, *, trickle: bytes = b"", every_s: float = 0.4
) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed it,
    sending `trickle` a byte at a time meanwhile; the guard fails a server that never does."""
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


def _answers(raw: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    found = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        length = int(headers.get("content-length", "0"))
        found.append((int(status_line.split()[1]), headers, rest[:length]))
        raw = rest[length:]
    return found


def _only_answer(raw: bytes, after_s: float) -> Answer:
    answers = _answers(raw)
    assert len(answers) == 1, raw
    [(status, headers, body)] = answers
    return Answer(status, headers, json.loads(body) if body else None, after_s)


def _in_envelope(answer: Answer, status: int, code: str) -> None:
    assert answer.status == status, answer
    assert answer.headers["content-type"] == "application/json", answer
    assert answer.headers["connection"] == "close", answer
    assert answer.body["success"] is False
    assert [e["code"] for e in answer.body["errors"]] == [code], answer.body
    assert answer.headers["x-request-id"] == answer.body["meta"]["request_id"]


def _patch_head(server: Server, length: int, *extra: str) -> bytes:
    lines = [
        f"PATCH {TENANT} HTTP/1.1",
        "Host: admin.test",
        f"Authorization: Bearer {server.token}",
        "Content-Type: application/json",
        f"Content-Length: {length}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_connection_that_never_sends_a_request_is_closed_after_the_keep_alive_time(
    server: Server,
) -> None:
    with server.connect() as client:
        raw, after = _read_until_closed(client)
    assert raw == b""
    assert KEEP_ALIVE_S * 0.9 <= after < KEEP_ALIVE_S + SLACK_S


def test_an_idle_connection_between_requests_is_closed_after_the_keep_alive_time(
    server: Server,
) -> None:
    with server.connect() as client:
        client.sendall(b"GET /ready HTTP/1.1\r\nHost: admin.test\r\n\r\n")
        raw, after = _read_until_closed(client)
    [(status, _, _)] = _answers(raw)
    assert status == 200
    assert after < KEEP_ALIVE_S + SLACK_S
    assert after < 5  # uvicorn's own keep-alive, which the setting replaces


def test_headers_that_stop_coming_are_answered_408_and_the_connection_closed(
    server: Server,
) -> None:
    with server.connect() as client:
        client.sendall(b"GET /ready HTTP/1.1\r\nHost: admin.test\r\n")
        answer = _only_answer(*_read_until_closed(client))
    _in_envelope(answer, 408, "REQUEST_TIMEOUT")
    assert HEADERS_S * 0.9 <= answer.after_s < HEADERS_S + SLACK_S
    assert "did not arrive within 2 s" in answer.body["errors"][0]["message"]


def test_headers_sent_a_byte_at_a_time_are_held_to_the_deadline_from_their_first_byte(
    server: Server,
) -> None:
    """Each byte comes before the keep-alive time is up: the deadline is not moved by them."""
    head = b"GET /ready HTTP/1.1\r\nHost: admin.test\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    with server.connect() as client:
        client.sendall(head[:1])
        answer = _only_answer(*_read_until_closed(client, trickle=head[1:]))
    _in_envelope(answer, 408, "REQUEST_TIMEOUT")
    assert answer.after_s < HEADERS_S + SLACK_S


def test_a_body_shorter_than_its_content_length_is_answered_408_and_changes_nothing(
    server: Server,
) -> None:
    before = server.tenant_name()
    with server.connect() as client:
        client.sendall(_patch_head(server, 100) + b'{"name": "Slow')
        answer = _only_answer(*_read_until_closed(client))
    _in_envelope(answer, 408, "REQUEST_TIMEOUT")
    assert BODY_S * 0.9 <= answer.after_s < BODY_S + SLACK_S
    assert server.tenant_name() == before


def test_a_body_sent_a_byte_at_a_time_is_held_to_the_deadline(server: Server) -> None:
    before = server.tenant_name()
    body = json.dumps({"name": "Trickled " + "x" * 100}).encode()
    with server.connect() as client:
        client.sendall(_patch_head(server, len(body)))
        answer = _only_answer(*_read_until_closed(client, trickle=body, every_s=0.2))
    _in_envelope(answer, 408, "REQUEST_TIMEOUT")
    assert server.tenant_name() == before


def test_a_body_in_pieces_within_the_deadline_is_taken(server: Server) -> None:
    body = json.dumps({"name": "Apollo Chennai (in pieces)"}).encode()
    with server.connect() as client:
        client.sendall(_patch_head(server, len(body), "Connection: close"))
        for piece in (body[:5], body[5:20], body[20:]):
            time.sleep(0.3)
            client.sendall(piece)
        answer = _only_answer(*_read_until_closed(client))
    assert answer.status == 200, answer
    assert server.tenant_name() == "Apollo Chennai (in pieces)"


def test_a_body_nobody_reads_cannot_hold_the_connection_open(server: Server) -> None:
    """`GET /ready` takes no body: it is answered at once, and the body it announced may
    trickle in, each byte before the keep-alive time, only until the body's deadline."""
    with server.connect() as client:
        client.sendall(b"GET /ready HTTP/1.1\r\nHost: admin.test\r\nContent-Length: 1000\r\n\r\n")
        raw, after = _read_until_closed(client, trickle=b"x" * 1000)
    [(status, _, _)] = _answers(raw)
    assert status == 200
    assert after < BODY_S + SLACK_S


def test_a_body_framed_by_both_transfer_encoding_and_content_length_is_refused(
    server: Server,
) -> None:
    """RFC 9112 §6.1: a proxy in front may have framed it by the other header; the request is
    refused before anything reads it, and nothing that follows on the connection is read."""
    before = server.tenant_name()
    body = b'{"name": "Smuggled"}'
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    following = b"GET /ready HTTP/1.1\r\nHost: admin.test\r\n\r\n"
    with server.connect() as client:
        client.sendall(_patch_head(server, 3, "Transfer-Encoding: chunked") + chunked + following)
        answer = _only_answer(*_read_until_closed(client))
    _in_envelope(answer, 400, "BAD_REQUEST")
    assert "Transfer-Encoding and Content-Length" in answer.body["errors"][0]["message"]
    assert server.tenant_name() == before


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /ready HTTP/1.1\r\nHost admin.test\r\n\r\n",  # a header line without a colon
        b"GET /ready HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST /ready HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ],
    ids=["no-colon", "two-lengths", "not-chunked", "no-request-line"],
)
def test_a_request_that_is_not_http_is_answered_400_in_the_envelope(
    server: Server, request_bytes: bytes
) -> None:
    with server.connect() as client:
        client.sendall(request_bytes)
        answer = _only_answer(*_read_until_closed(client))
    _in_envelope(answer, 400, "BAD_REQUEST")


def test_a_client_that_hangs_up_before_its_body_is_whole_is_no_server_error(
    server: Server,
) -> None:
    before = server.tenant_name()
    with server.connect() as client:
        client.sendall(_patch_head(server, 100) + b'{"name": "Gone')
        time.sleep(0.5)  # the app is reading the body
    time.sleep(0.5)  # the server has seen the connection close
    assert server.tenant_name() == before
    log = server.log.read_text()
    assert "disconnected" not in log, log
    assert " ERROR " not in log, log
