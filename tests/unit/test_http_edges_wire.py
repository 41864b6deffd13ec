"""The edges of HTTP/1.1 that `adminctl serve` answers itself, before or around the app: a
request line or headers over the limit, request targets in other forms than a path, a query
parameter without a name, a body where none is taken, more connections than it takes (ADR
0062). A real server on an embedded SQLite file, driven over raw sockets."""

from __future__ import annotations

import json
import os
import re
import resource
import select
import socket
import string
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from entrypoints.settings import PREFIX
from tests.support.adminctl import ADMINCTL
from tests.support.ports import free_port
from tests.support.services import ROOT

#: Guards against a hang; never a measure of speed.
GUARD_S = 20.0
#: The limit `adminctl serve` sets on a request's line and headers.
MAX_HEAD = 256 * 1024
TENANTS = "/api/v1/admin/tenants"
TENANT_ID = "apollo-chennai"
#: The server's cap on connections, low enough for a test to reach.
MAX_CONNECTIONS = 4


@dataclass(frozen=True)
class Server:
    port: int
    token: str
    log: Path

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=GUARD_S)

    def exchange(self, *requests: bytes) -> list[Answer]:
        """The answers to `requests`, sent at once on one connection, until it closes."""
        with self.connect() as client:
            client.sendall(b"".join(requests))
            return _answers(_read_until_closed(client))

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


@contextmanager
def _serving(
    folder: Path, settings: dict[str, str], open_files: tuple[int, int] | None = None
) -> Iterator[tuple[Server, subprocess.Popen[bytes]]]:
    """`adminctl serve` with these settings (and this limit of open files), once ready."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    env |= {f"{PREFIX}DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'admin.sqlite'}"}
    env |= {f"{PREFIX}{name}": value for name, value in settings.items()}
    port = free_port()
    out, err = folder / "serve.out", folder / "serve.err"

    def limited() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, open_files)

    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [str(ADMINCTL), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            preexec_fn=limited,
        )
    try:
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert process.poll() is None, err.read_text()
        found = re.search(r"export ADMIN_TOKEN=(\S+)", out.read_text())
        assert found is not None, out.read_text()
        yield Server(port=port, token=found[1], log=err), process
    finally:
        process.terminate()
        try:
            process.wait(timeout=GUARD_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = {"HTTP_KEEP_ALIVE_SECONDS": "1", "HTTP_MAX_CONNECTIONS": str(MAX_CONNECTIONS)}
    with _serving(tmp_path_factory.mktemp("http-edges"), settings) as (server, _):
        yield server


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def _read_until_closed(client: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (it does, at the latest
    once the keep-alive time is up); the guard fails a server that never does."""
    start = time.monotonic()
    received = b""
    while time.monotonic() - start < GUARD_S:
        readable, _, _ = select.select([client], [], [], 0.2)
        if readable:
            try:
                chunk = client.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return received
            received += chunk
    pytest.fail(f"the connection was still open after {GUARD_S:g} s; received {received!r}")


def _answers(raw: bytes) -> list[Answer]:
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


def _request(method: str, target: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _closing_in_envelope(answer: Answer, status: int, code: str) -> None:
    assert answer.status == status, answer
    assert answer.headers["content-type"] == "application/json", answer
    assert answer.headers["connection"] == "close", answer
    assert answer.body["success"] is False
    assert [e["code"] for e in answer.body["errors"]] == [code], answer.body
    assert answer.headers["x-request-id"] == answer.body["meta"]["request_id"]


def _auth(server: Server) -> str:
    return f"Authorization: Bearer {server.token}"


# A request line or headers over the limit: 414 or 431 (RFC 9112 §3, RFC 6585 §5), however
# they arrive.


def _sent_in_pieces(server: Server, head: bytes, piece: int) -> list[Answer]:
    with server.connect() as client:
        for start in range(0, len(head), piece):
            try:
                client.sendall(head[start : start + piece])
            except (BrokenPipeError, ConnectionResetError):
                break  # refused before the end
        return _answers(_read_until_closed(client))


@pytest.mark.parametrize(
    "piece",
    [10 * 1024, 64 * 1024, 1024 * 1024],
    ids=["10KiB-pieces", "64KiB-pieces", "at-once"],
)
@pytest.mark.parametrize("size", [MAX_HEAD + 1024, 2 * MAX_HEAD + 1024])
def test_headers_over_the_limit_are_a_431_in_the_envelope_and_the_connection_closed(
    server: Server, size: int, piece: int
) -> None:
    """h11 counts only what it holds of headers still incomplete: headers that end within a
    read past the limit went through (a 200), and those it caught were a 400."""
    head = _request("GET", "/ready", "Host: admin.test", "X-Big: " + "x" * size)
    [answer] = _sent_in_pieces(server, head, piece)
    _closing_in_envelope(answer, 431, "HEADERS_TOO_LARGE")
    assert f"over {MAX_HEAD} bytes" in answer.body["errors"][0]["message"]


@pytest.mark.parametrize("piece", [10 * 1024, 1024 * 1024], ids=["10KiB-pieces", "at-once"])
@pytest.mark.parametrize("where", ["path", "query"])
def test_a_request_line_over_the_limit_is_a_414_in_the_envelope(
    server: Server, where: str, piece: int
) -> None:
    """RFC 9112 §3: a target longer than the server will parse MUST be answered 414."""
    long = "a" * (MAX_HEAD + 1024)
    target = f"/{long}" if where == "path" else f"/ready?{long}"
    [answer] = _sent_in_pieces(server, _request("GET", target, "Host: admin.test"), piece)
    _closing_in_envelope(answer, 414, "URI_TOO_LONG")
    assert f"over {MAX_HEAD} bytes" in answer.body["errors"][0]["message"]


def test_headers_just_under_the_limit_are_taken(server: Server) -> None:
    filler = MAX_HEAD - 1024
    head = _request(
        "GET", "/ready", "Host: admin.test", "Connection: close", "X-Big: " + "x" * filler
    )
    [answer] = _sent_in_pieces(server, head, 64 * 1024)
    assert answer.status == 200, answer


# The request target: a path (origin-form) or an absolute URI (RFC 9112 §3.2).


def test_an_absolute_form_target_is_routed_by_its_path(server: Server) -> None:
    """RFC 9112 §3.2.2: a server MUST accept it; its authority is the host."""
    target = f"http://127.0.0.1:{server.port}{TENANTS}?tenant_id={TENANT_ID}"
    [answer] = server.exchange(
        _request("GET", target, "Host: elsewhere.test", _auth(server), "Connection: close")
    )
    assert answer.status == 200, answer
    [tenant] = answer.body["data"]["tenants"]
    assert tenant["id"] == TENANT_ID


@pytest.mark.parametrize("target", ["HTTP://admin.test/ready", "https://admin.test:443/ready"])
def test_an_absolute_form_target_of_either_scheme_in_any_case_is_taken(
    server: Server, target: str
) -> None:
    [answer] = server.exchange(_request("GET", target, "Host: admin.test", "Connection: close"))
    assert answer.status == 200, answer


def test_an_absolute_form_change_is_applied_as_its_path_names(server: Server) -> None:
    body = json.dumps({"name": "Apollo Chennai (absolute)"}).encode()
    target = f"http://admin.test{TENANTS}/{TENANT_ID}"
    [answer] = server.exchange(
        _request(
            "PATCH",
            target,
            "Host: admin.test",
            _auth(server),
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Connection: close",
            body=body,
        )
    )
    assert answer.status == 200, answer
    assert server.tenant_name() == "Apollo Chennai (absolute)"


@pytest.mark.parametrize(
    "target",
    [
        "ready",
        "api/v1/admin/tenants",
        "admin.test:443",
        "*",
        "http://user@admin.test/ready",
        "http:///ready",
    ],
    ids=["no-slash", "api-no-slash", "authority-form", "asterisk-on-get", "userinfo", "no-host"],
)
def test_a_target_that_is_no_path_is_a_400_in_the_envelope(server: Server, target: str) -> None:
    """`GET ready` was routed as `/ready`: a proxy in front guarding `/api/` by its prefix
    would let `api/v1/admin/...` through to a server that routes it."""
    [answer] = server.exchange(_request("GET", target, "Host: admin.test", _auth(server)))
    _closing_in_envelope(answer, 400, "BAD_REQUEST")
    assert "request target" in answer.body["errors"][0]["message"]


@pytest.mark.parametrize(
    "path",
    [
        f"/{TENANTS}",
        f"{TENANTS}//{TENANT_ID}",
        "/api/v1/admin%2Ftenants",
        "/api/v1/admin%2ftenants",
    ],
    ids=["leading", "inner", "encoded", "encoded-lower"],
)
@pytest.mark.parametrize("form", ["origin", "absolute"])
def test_a_path_spelt_with_another_slash_is_a_400_not_the_resource_it_would_route_to(
    server: Server, path: str, form: str
) -> None:
    """The router read `//` and `%2F` as `/`: a proxy in front refusing `/api/v1/admin/` to
    some callers by its prefix let `//api/...` and `/api/v1/admin%2F...` through to it."""
    target = path if form == "origin" else f"http://admin.test{path}"
    [answer] = server.exchange(_request("GET", target, "Host: admin.test", _auth(server)))
    _closing_in_envelope(answer, 400, "BAD_REQUEST")
    assert "encoded `/`" in answer.body["errors"][0]["message"]


_SEGMENT = st.text(
    alphabet=string.ascii_letters + string.digits + "-._~:@", min_size=1, max_size=12
)
_PATHS = st.one_of(
    st.sampled_from(["/ready", "/health", TENANTS, f"{TENANTS}/{TENANT_ID}", "/api/v1/admin/"]),
    st.lists(_SEGMENT, min_size=1, max_size=4).map(lambda segments: "/" + "/".join(segments)),
    st.lists(_SEGMENT, max_size=3).map(lambda segments: "/api/v1/admin/" + "/".join(segments)),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=_PATHS, authority=st.sampled_from(["admin.test", "127.0.0.1:8000", "[::1]"]))
def test_a_path_is_answered_alike_in_origin_and_absolute_form_and_refused_with_another_slash(
    server: Server, path: str, authority: str
) -> None:
    def status(target: str) -> int:
        request = _request("GET", target, "Host: admin.test", _auth(server), "Connection: close")
        [answer] = server.exchange(request)
        return answer.status

    origin = status(path)
    assert status(f"http://{authority}{path}") == origin
    if path.count("/") > 1:
        slash = path.index("/", 1)
        assert status(f"{path[:slash]}/{path[slash:]}") == 400
        assert status(f"{path[:slash]}%2F{path[slash + 1 :]}") == 400


# The query, and a body where none is taken.


def test_a_query_parameter_without_a_name_is_named_as_the_query(server: Server) -> None:
    [answer] = server.exchange(
        _request("GET", f"{TENANTS}?=1", "Host: admin.test", _auth(server), "Connection: close")
    )
    assert answer.status == 422, answer
    [error] = answer.body["errors"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["field"] == "query"
    assert "no name" in error["message"]


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", f"{TENANTS}?limit=1"),
        (
            "DELETE",
            f"/api/v1/admin/flags/identity-override?tenant_id={TENANT_ID}&flag=enable_mso_booking",
        ),
    ],
    ids=["get", "delete"],
)
@pytest.mark.parametrize("framing", ["Content-Length: 13", "Transfer-Encoding: chunked"])
def test_a_body_on_an_api_operation_that_takes_none_is_a_422_naming_it(
    server: Server, method: str, target: str, framing: str
) -> None:
    """A filter sent in a GET's body was ignored, and the whole list answered; a DELETE's was
    ignored, and the change made: the body is refused as an unknown query parameter is,
    before anything is read or changed."""
    body = b'{"limit": 99}'
    if framing.startswith("Transfer"):
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    [answer] = server.exchange(
        _request(
            method,
            target,
            "Host: admin.test",
            _auth(server),
            "Content-Type: application/json",
            framing,
            "Connection: close",
            body=body,
        )
    )
    assert answer.status == 422, answer
    [error] = answer.body["errors"]
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "body")
    assert "takes no body" in error["message"]


def test_an_empty_body_on_a_get_and_a_body_on_a_probe_are_taken(server: Server) -> None:
    """`Content-Length: 0` announces no body; the probes ignore what they are sent."""
    [listed] = server.exchange(
        _request(
            "GET",
            f"{TENANTS}?limit=1",
            "Host: a",
            _auth(server),
            "Content-Length: 0",
            "Connection: close",
        )
    )
    [probed] = server.exchange(
        _request("GET", "/ready", "Host: a", "Content-Length: 2", "Connection: close", body=b"{}")
    )
    assert (listed.status, probed.status) == (200, 200), (listed, probed)


# More connections than the server takes: 503 in the envelope, and room for the rest.


def test_a_request_past_the_connections_the_server_takes_is_a_503_saying_when_to_retry(
    server: Server,
) -> None:
    """Clients holding every connection (their headers unfinished, within their deadline):
    one more is answered at once in the envelope, not in uvicorn's plain text, and once they
    are gone the server answers again."""
    held = [server.connect() for _ in range(MAX_CONNECTIONS)]
    try:
        for client in held:
            client.sendall(b"GET /ready HTTP/1.1\r\n")
        [answer] = server.exchange(_request("GET", "/ready", "Host: admin.test"))
        [alive] = server.exchange(
            _request("GET", "/health", "Host: admin.test", "Connection: close")
        )
        [alive_too] = server.exchange(
            _request("GET", "http://admin.test/health", "Host: admin.test", "Connection: close")
        )
    finally:
        for client in held:
            client.close()
    _closing_in_envelope(answer, 503, "SERVER_BUSY")
    assert answer.headers["retry-after"] == "1"
    # a busy replica is alive: no orchestrator restarts it
    assert (alive.status, alive_too.status) == (200, 200), (alive, alive_too)
    deadline = time.monotonic() + GUARD_S
    while True:
        [again] = server.exchange(
            _request("GET", "/ready", "Host: admin.test", "Connection: close")
        )
        if again.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # the server has yet to see the held connections close
    assert again.status == 200, again
    assert "over ADMIN_HTTP_MAX_CONNECTIONS (4)" in server.log.read_text()


def _soft_open_files(process: subprocess.Popen[bytes]) -> int:
    limits = Path(f"/proc/{process.pid}/limits").read_text()
    found = re.search(r"^Max open files\s+(\d+)", limits, re.MULTILINE)
    assert found is not None, limits
    return int(found[1])


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="reads /proc")
def test_the_server_raises_its_limit_of_open_files_to_leave_room_beside_its_connections(
    tmp_path: Path,
) -> None:
    """Clients must not take the descriptors the database and the other services need: a
    soft limit below the cap plus room for those is raised, within the hard limit."""
    with _serving(tmp_path, {"HTTP_MAX_CONNECTIONS": "1000"}, (512, 4096)) as (_, process):
        assert _soft_open_files(process) == 1000 + 256


def test_the_server_says_when_its_hard_limit_of_open_files_is_short_of_its_connections(
    tmp_path: Path,
) -> None:
    with _serving(tmp_path, {"HTTP_MAX_CONNECTIONS": "1000"}, (512, 768)) as (server, _):
        assert "ADMIN_HTTP_MAX_CONNECTIONS" in (tmp_path / "serve.err").read_text()
        [answer] = server.exchange(
            _request("GET", "/ready", "Host: admin.test", "Connection: close")
        )
        assert answer.status == 200
