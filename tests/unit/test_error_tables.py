"""Every error the core can raise has an HTTP status and a CLI exit code; framework errors keep
a code of their own."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar, get, post
from litestar.exceptions import HTTPException
from litestar.params import JSONBody
from litestar.testing import AsyncTestClient

from admin_core.flags.errors import FlagsUnavailable
from admin_core.kernel.errors import RETRY_AFTER_SECONDS, AdminError
from entrypoints.cli.output import EXIT_BY_STATUS, exit_code_of
from entrypoints.http.errors import STATUS, handle_exception, status_of
from tests.support.errors import BY_CAUSE, error_classes

ERRORS = error_classes()


@pytest.mark.parametrize("error", ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_class_has_an_http_status_and_an_exit_code(error: type[AdminError]) -> None:
    assert 400 <= STATUS[error] <= 599
    assert EXIT_BY_STATUS[STATUS[error]] >= 1


def test_the_table_names_every_class_and_nothing_else() -> None:
    assert set(STATUS) == set(ERRORS)


@pytest.mark.parametrize(("error", "status", "exit_code"), BY_CAUSE)
def test_an_error_whose_status_depends_on_its_cause_exits_by_the_same_cause(
    error: AdminError, status: int, exit_code: int
) -> None:
    assert (status_of(error), exit_code_of(error)) == (status, exit_code)


def test_every_error_class_has_its_own_code() -> None:
    codes = [cls.code for cls in ERRORS]
    assert len(codes) == len(set(codes))


@post("/echo")
async def echo(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    return data


@get("/teapot")
async def teapot() -> None:
    raise HTTPException(status_code=418, detail="I'm a teapot.")


@get("/flags/waiting")
async def flags_waiting() -> None:
    raise FlagsUnavailable(details={RETRY_AFTER_SECONDS: 3})


@get("/flags/down")
async def flags_down() -> None:
    raise FlagsUnavailable()


def _app() -> Litestar:
    return Litestar(
        [echo, teapot, flags_waiting, flags_down],
        exception_handlers={Exception: handle_exception},
        request_max_body_size=64,
    )


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"x" * 100, {"content-type": "application/json"}, 413, "PAYLOAD_TOO_LARGE"),
        (b"{", {"content-type": "application/json"}, 400, "BAD_REQUEST"),
    ],
    ids=["413", "400"],
)
async def test_framework_errors_are_mapped_by_status_to_their_own_code(
    body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    async with AsyncTestClient(_app()) as client:
        response = await client.post("/echo", content=body, headers=headers)
    assert response.status_code == status
    assert response.json()["errors"][0]["code"] == code


async def test_an_unknown_route_and_method_keep_their_codes() -> None:
    async with AsyncTestClient(_app()) as client:
        missing = await client.get("/nowhere")
        wrong = await client.get("/echo")
    assert (missing.status_code, missing.json()["errors"][0]["code"]) == (404, "NOT_FOUND")
    assert (wrong.status_code, wrong.json()["errors"][0]["code"]) == (405, "METHOD_NOT_ALLOWED")


async def test_a_framework_4xx_without_a_code_of_its_own_is_a_bad_request() -> None:
    async with AsyncTestClient(_app()) as client:
        response = await client.get("/teapot")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"code": "BAD_REQUEST", "message": "I'm a teapot."}]


async def test_an_error_that_knows_how_long_to_wait_answers_retry_after() -> None:
    """A client, a proxy or a load balancer reads the wait from the header: the same whole
    seconds as `details.retry_after_seconds`; an error that does not know sends none."""
    async with AsyncTestClient(_app()) as client:
        waiting = await client.get("/flags/waiting")
        unknown = await client.get("/flags/down")
    assert (waiting.status_code, waiting.headers.get("retry-after")) == (503, "3")
    assert waiting.json()["errors"][0]["details"] == {"retry_after_seconds": 3}
    assert (unknown.status_code, unknown.headers.get("retry-after")) == (503, None)
