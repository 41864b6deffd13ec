"""What `adminctl serve` logs: each line with its request, no HTTP client's per-call lines."""

from __future__ import annotations

import contextlib
import io
import logging
import logging.config
import socket
from pathlib import Path

import pytest

from entrypoints.cli.main import main
from entrypoints.logs import QUIET, REQUEST_ID, server_log_config
from tests.browser.live import serve

#: Guards against a hang, never a measure of speed.
GUARD_S = 30.0


@pytest.fixture
def server_logging() -> io.StringIO:
    """The server's configuration, writing to a buffer; the test process's logging after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    quiet = {name: logging.getLogger(name).level for name in QUIET}
    config = server_log_config()
    config["handlers"]["default"]["stream"] = buffer = io.StringIO()
    logging.config.dictConfig(config)
    yield buffer
    root.handlers[:], root.level = saved
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)


def test_a_line_written_while_serving_a_request_names_it(server_logging: io.StringIO) -> None:
    token = REQUEST_ID.set("req-42")
    try:
        logging.getLogger("admin_core.test").warning("the provider could not be asked")
    finally:
        REQUEST_ID.reset(token)
    logging.getLogger("admin_core.test").warning("between requests")
    lines = server_logging.getvalue().splitlines()
    assert "[req-42] the provider could not be asked" in lines[0]
    assert "[-] between requests" in lines[1]


def test_http_clients_say_nothing_of_each_call(server_logging: io.StringIO) -> None:
    for name in QUIET:
        logging.getLogger(name).info("HTTP Request: GET http://user:secret@host/path")
    logging.getLogger("httpx").warning("a client warning still shows")
    assert "secret" not in server_logging.getvalue()
    assert "a client warning still shows" in server_logging.getvalue()


def test_the_graph_drivers_warnings_reach_the_servers_log() -> None:
    """`adminctl` keeps the Neo4j driver's "will be retried" warnings off a command's output;
    `serve` is a command too, and its log is where an operator looks for them."""
    driver = logging.getLogger("neo4j")
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, driver.level)
    config = server_log_config()
    config["handlers"]["default"]["stream"] = buffer = io.StringIO()
    with contextlib.suppress(SystemExit):
        main(["--help"])  # what every command does before its own work
    try:
        logging.config.dictConfig(config)
        driver.warning("Transaction failed and will be retried in 1.0s (ServiceUnavailable)")
    finally:
        root.handlers[:], root.level, driver.level = saved
    assert "will be retried" in buffer.getvalue()


def test_a_served_request_is_logged_with_its_query_names_not_their_values(
    tmp_path: Path,
) -> None:
    """The access log of `adminctl serve` names the path and the query's parameters: a
    patient's id, or any other value a query carries, and the bearer token stay out of it."""
    with serve(tmp_path) as app:
        token = app.token()
        for query in (
            "patient_id=pat_4711_hidden&tenant_id=t_unknown",
            "patient_id=pat_4711_hidden&bogus=x",
        ):
            app.http.get(
                f"/api/v1/admin/audit-log?{query}",
                headers={"Authorization": f"Bearer {token}"},
            )
        app.http.get("/api/v1/admin/audit-log?patient_id=pat_4711_hidden")  # no token: 401
    output = app.output.read_text()
    assert "/api/v1/admin/audit-log?patient_id=" in output
    assert "bogus=" in output
    assert "pat_4711_hidden" not in output
    assert "t_unknown" not in output
    assert token not in output


def test_probes_of_a_served_app_write_their_access_lines_and_nothing_else(
    tmp_path: Path,
) -> None:
    """A load balancer asks `/ready` every few seconds: each probe is one access line, not
    lines of the libraries the check goes through (alembic's "Context impl SQLiteImpl")."""
    with serve(tmp_path) as app:
        before = len(app.output.read_text().splitlines())
        for path in ("/ready", "/health", "/ready", "/ready"):
            assert app.http.get(path).status_code == 200
        lines = app.output.read_text().splitlines()[before:]
    assert len(lines) == 4, lines
    assert all(" uvicorn.access " in line for line in lines), lines


def test_an_upgrade_request_is_answered_as_plain_http_with_its_access_line_only(
    tmp_path: Path,
) -> None:
    """The app has no WebSocket route: a WebSocket handshake (or `curl --http2`'s h2c) is an
    ordinary request, never switched to another protocol, and one access line, not warnings
    advising to install a WebSocket library."""
    with serve(tmp_path) as app:
        before = len(app.output.read_text().splitlines())
        port = int(app.base_url.rpartition(":")[2])
        for upgrade in ("websocket", "h2c"):
            with socket.create_connection(("127.0.0.1", port), timeout=GUARD_S) as client:
                client.sendall(
                    f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    f"Connection: Upgrade\r\nUpgrade: {upgrade}\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n"
                    "\r\n".encode()
                )
                answer = client.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 "), answer
        lines = app.output.read_text().splitlines()[before:]
    assert len(lines) == 2, lines
    assert all('"GET /health HTTP/1.1" 200' in line for line in lines), lines
