"""What `adminctl serve` logs: each line with its request, no HTTP client's per-call lines."""

from __future__ import annotations

import io
import logging
import logging.config

import pytest

from entrypoints.logs import QUIET, REQUEST_ID, server_log_config


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
