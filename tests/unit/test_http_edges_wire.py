"""The edges of HTTP/1.1 that `adminctl serve` answers itself, before or around the app: a
request line or headers over the limit, request targets in other forms than a path, a query
parameter without a name, a body where none is taken, more connections than it takes (ADR
0062). A real server on an embedded SQLite file, driven over raw sockets."""

from __future__ import annotations

import json
import re
import string
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from entrypoints.settings import PREFIX
from tests.support.serving import serving
from tests.support.wire import (
    GUARD_S,
    TENANT_ID,
    TENANTS,
    Answer,
    Server,
    answers,
    closing_in_envelope,
    read_until_closed,
    request,
)

#: The limit `adminctl serve` sets on a request's line and headers.
MAX_HEAD = 256 * 1024
#: The server's cap on connections, low enough for a test to reach.
MAX_CONNECTIONS = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("http-edges")
    settings = {"HTTP_KEEP_ALIVE_SECONDS": "1", "HTTP_MAX_CONNECTIONS": str(MAX_CONNECTIONS)}
    with serving(_settings(folder, settings), folder, ready="/ready") as served:
        yield Server.of(served)


def _settings(folder: Path, settings: dict[str, str]) -> dict[str, str]:
    """`settings` (named without their prefix) on an embedded SQLite file in `folder`."""
    database = {"DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'admin.sqlite'}"}
    return {f"{PREFIX}{name}": value for name, value in (database | settings).items()}


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
        raw, _ = read_until_closed(client)
        return answers(raw)


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
    head = request("GET", "/ready", "Host: admin.test", "X-Big: " + "x" * size)
    [answer] = _sent_in_pieces(server, head, piece)
    closing_in_envelope(answer, 431, "HEADERS_TOO_LARGE")
    assert f"over {MAX_HEAD} bytes" in answer.body["errors"][0]["message"]


@pytest.mark.parametrize("piece", [10 * 1024, 1024 * 1024], ids=["10KiB-pieces", "at-once"])
@pytest.mark.parametrize("where", ["path", "query"])
def test_a_request_line_over_the_limit_is_a_414_in_the_envelope(
    server: Server, where: str, piece: int
) -> None:
    """RFC 9112 §3: a target longer than the server will parse MUST be answered 414."""
    long = "a" * (MAX_HEAD + 1024)
    target = f"/{long}" if where == "path" else f"/ready?{long}"
    [answer] = _sent_in_pieces(server, request("GET", target, "Host: admin.test"), piece)
    closing_in_envelope(answer, 414, "URI_TOO_LONG")
    assert f"over {MAX_HEAD} bytes" in answer.body["errors"][0]["message"]


def test_headers_just_under_the_limit_are_taken(server: Server) -> None:
    filler = MAX_HEAD - 1024
    head = request(
        "GET", "/ready", "Host: admin.test", "Connection: close", "X-Big: " + "x" * filler
    )
    [answer] = _sent_in_pieces(server, head, 64 * 1024)
    assert answer.status == 200, answer


# The request target: a path (origin-form) or an absolute URI (RFC 9112 §3.2).


def test_an_absolute_form_target_is_routed_by_its_path(server: Server) -> None:
    """RFC 9112 §3.2.2: a server MUST accept it; its authority is the host."""
    target = f"http://127.0.0.1:{server.port}{TENANTS}?tenant_id={TENANT_ID}"
    [answer] = server.exchange(
        request("GET", target, "Host: elsewhere.test", _auth(server), "Connection: close")
    )
    assert answer.status == 200, answer
    [tenant] = answer.body["data"]["tenants"]
    assert tenant["id"] == TENANT_ID


@pytest.mark.parametrize("target", ["HTTP://admin.test/ready", "https://admin.test:443/ready"])
def test_an_absolute_form_target_of_either_scheme_in_any_case_is_taken(
    server: Server, target: str
) -> None:
    [answer] = server.exchange(request("GET", target, "Host: admin.test", "Connection: close"))
    assert answer.status == 200, answer


def test_an_absolute_form_change_is_applied_as_its_path_names(server: Server) -> None:
    body = json.dumps({"name": "Apollo Chennai (absolute)"}).encode()
    target = f"http://admin.test{TENANTS}/{TENANT_ID}"
    [answer] = server.exchange(
        request(
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
    [answer] = server.exchange(request("GET", target, "Host: admin.test", _auth(server)))
    closing_in_envelope(answer, 400, "BAD_REQUEST")
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
    [answer] = server.exchange(request("GET", target, "Host: admin.test", _auth(server)))
    closing_in_envelope(answer, 400, "BAD_REQUEST")
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
        sent = request("GET", target, "Host: admin.test", _auth(server), "Connection: close")
        [answer] = server.exchange(sent)
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
        request("GET", f"{TENANTS}?=1", "Host: admin.test", _auth(server), "Connection: close")
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
        request(
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
        request(
            "GET",
            f"{TENANTS}?limit=1",
            "Host: a",
            _auth(server),
            "Content-Length: 0",
            "Connection: close",
        )
    )
    [probed] = server.exchange(
        request("GET", "/ready", "Host: a", "Content-Length: 2", "Connection: close", body=b"{}")
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
        [answer] = server.exchange(request("GET", "/ready", "Host: admin.test"))
        [alive] = server.exchange(
            request("GET", "/health", "Host: admin.test", "Connection: close")
        )
        [alive_too] = server.exchange(
            request("GET", "http://admin.test/health", "Host: admin.test", "Connection: close")
        )
    finally:
        for client in held:
            client.close()
    closing_in_envelope(answer, 503, "SERVER_BUSY")
    assert answer.headers["retry-after"] == "1"
    # a busy replica is alive: no orchestrator restarts it
    assert (alive.status, alive_too.status) == (200, 200), (alive, alive_too)
    deadline = time.monotonic() + GUARD_S
    while True:
        [again] = server.exchange(request("GET", "/ready", "Host: admin.test", "Connection: close"))
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
    settings = _settings(tmp_path, {"HTTP_MAX_CONNECTIONS": "1000"})
    with serving(settings, tmp_path, ready="/ready", open_files=(512, 4096)) as served:
        assert _soft_open_files(served.process) == 1000 + 256


def test_the_server_says_when_its_hard_limit_of_open_files_is_short_of_its_connections(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, {"HTTP_MAX_CONNECTIONS": "1000"})
    with serving(settings, tmp_path, ready="/ready", open_files=(512, 768)) as served:
        assert "ADMIN_HTTP_MAX_CONNECTIONS" in served.output()
        [answer] = Server.of(served).exchange(
            request("GET", "/ready", "Host: admin.test", "Connection: close")
        )
        assert answer.status == 200
