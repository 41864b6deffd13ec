"""Clients that are slow or misbehave at the connection: `adminctl serve` bounds how long it
waits for them, and answers what it refuses in the error envelope (ADR 0062). A real server
on an embedded SQLite file, driven over raw sockets, with short deadlines."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from entrypoints.settings import PREFIX
from tests.support.serving import serving
from tests.support.wire import (
    TENANT_ID,
    TENANTS,
    Server,
    closing_in_envelope,
    only_answer,
    read_until_closed,
    request,
)

HEADERS_S = 2.0
BODY_S = 2.0
KEEP_ALIVE_S = 1.0
#: How late an answer may come on a busy machine; never a measure of speed.
SLACK_S = 6.0


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
        yield Server.of(served)


def _patch_head(server: Server, length: int, *extra: str) -> bytes:
    return request(
        "PATCH",
        f"{TENANTS}/{TENANT_ID}",
        "Host: admin.test",
        f"Authorization: Bearer {server.token}",
        "Content-Type: application/json",
        f"Content-Length: {length}",
        *extra,
    )


def test_a_connection_that_never_sends_a_request_is_closed_after_the_keep_alive_time(
    server: Server,
) -> None:
    with server.connect() as client:
        raw, after = read_until_closed(client)
    assert raw == b""
    assert KEEP_ALIVE_S * 0.9 <= after < KEEP_ALIVE_S + SLACK_S


def test_an_idle_connection_between_requests_is_closed_after_the_keep_alive_time(
    server: Server,
) -> None:
    with server.connect() as client:
        client.sendall(b"GET /ready HTTP/1.1\r\nHost: admin.test\r\n\r\n")
        raw, after = read_until_closed(client)
    assert only_answer(raw).status == 200
    assert after < KEEP_ALIVE_S + SLACK_S
    assert after < 5  # uvicorn's own keep-alive, which the setting replaces


def test_headers_that_stop_coming_are_answered_408_and_the_connection_closed(
    server: Server,
) -> None:
    with server.connect() as client:
        client.sendall(b"GET /ready HTTP/1.1\r\nHost: admin.test\r\n")
        raw, after = read_until_closed(client)
        answer = only_answer(raw)
    closing_in_envelope(answer, 408, "REQUEST_TIMEOUT")
    assert HEADERS_S * 0.9 <= after < HEADERS_S + SLACK_S
    assert "did not arrive within 2 s" in answer.body["errors"][0]["message"]


def test_headers_sent_a_byte_at_a_time_are_held_to_the_deadline_from_their_first_byte(
    server: Server,
) -> None:
    """Each byte comes before the keep-alive time is up: the deadline is not moved by them."""
    head = b"GET /ready HTTP/1.1\r\nHost: admin.test\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    with server.connect() as client:
        client.sendall(head[:1])
        raw, after = read_until_closed(client, trickle=head[1:])
        answer = only_answer(raw)
    closing_in_envelope(answer, 408, "REQUEST_TIMEOUT")
    assert after < HEADERS_S + SLACK_S


def test_a_body_shorter_than_its_content_length_is_answered_408_and_changes_nothing(
    server: Server,
) -> None:
    before = server.tenant_name()
    with server.connect() as client:
        client.sendall(_patch_head(server, 100) + b'{"name": "Slow')
        raw, after = read_until_closed(client)
        answer = only_answer(raw)
    closing_in_envelope(answer, 408, "REQUEST_TIMEOUT")
    assert BODY_S * 0.9 <= after < BODY_S + SLACK_S
    assert server.tenant_name() == before


def test_a_body_sent_a_byte_at_a_time_is_held_to_the_deadline(server: Server) -> None:
    before = server.tenant_name()
    body = json.dumps({"name": "Trickled " + "x" * 100}).encode()
    with server.connect() as client:
        client.sendall(_patch_head(server, len(body)))
        raw, _ = read_until_closed(client, trickle=body, every_s=0.2)
        answer = only_answer(raw)
    closing_in_envelope(answer, 408, "REQUEST_TIMEOUT")
    assert server.tenant_name() == before


def test_a_body_in_pieces_within_the_deadline_is_taken(server: Server) -> None:
    body = json.dumps({"name": "Apollo Chennai (in pieces)"}).encode()
    with server.connect() as client:
        client.sendall(_patch_head(server, len(body), "Connection: close"))
        for piece in (body[:5], body[5:20], body[20:]):
            time.sleep(0.3)
            client.sendall(piece)
        raw, _ = read_until_closed(client)
        answer = only_answer(raw)
    assert answer.status == 200, answer
    assert server.tenant_name() == "Apollo Chennai (in pieces)"


def test_a_body_nobody_reads_cannot_hold_the_connection_open(server: Server) -> None:
    """`GET /ready` takes no body: it is answered at once, and the body it announced may
    trickle in, each byte before the keep-alive time, only until the body's deadline."""
    with server.connect() as client:
        client.sendall(b"GET /ready HTTP/1.1\r\nHost: admin.test\r\nContent-Length: 1000\r\n\r\n")
        raw, after = read_until_closed(client, trickle=b"x" * 1000)
    assert only_answer(raw).status == 200
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
        raw, _ = read_until_closed(client)
        answer = only_answer(raw)
    closing_in_envelope(answer, 400, "BAD_REQUEST")
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
        raw, _ = read_until_closed(client)
        answer = only_answer(raw)
    closing_in_envelope(answer, 400, "BAD_REQUEST")


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
