"""The retry policy Clerk's and Flagsmith's adapters share (`adapters.http.retry`): what is
tried again, how long it waits, and what the adapter is told when a call fails. The adapters'
own suites run it against their fakes; here it runs against scripted answers."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Literal

import httpx
import pytest

from adapters.http.retry import RetryPolicy

log = logging.getLogger("tests.retry_policy")


class Failed(Exception):
    def __init__(self, last: httpx.HTTPError | httpx.Response, attempts: int) -> None:
        super().__init__(attempts)
        self.last = last
        self.attempts = attempts


def policy(
    over_max: Literal["cap", "give up"] = "cap",
    *,
    attempts: int = 3,
    max_retry_after: float = 0.2,
    retried: type[httpx.HTTPError] = httpx.TransportError,
) -> RetryPolicy:
    return RetryPolicy(
        attempts=attempts,
        backoff=0.0,
        max_retry_after=max_retry_after,
        over_max_retry_after=over_max,
        retried=retried,
    )


class Script:
    """Answers (or errors) given in turn, and how many calls were made."""

    def __init__(self, *outcomes: httpx.Response | httpx.HTTPError) -> None:
        self._outcomes: Iterator[httpx.Response | httpx.HTTPError] = iter(outcomes)
        self.calls = 0

    async def __call__(self) -> httpx.Response:
        self.calls += 1
        outcome = next(self._outcomes)
        if isinstance(outcome, httpx.HTTPError):
            raise outcome
        return outcome


async def send(retry: RetryPolicy, script: Script) -> httpx.Response:
    return await retry.send(script, failure=Failed, log=log, where="test GET /thing")


def rate_limited(seconds: str) -> httpx.Response:
    return httpx.Response(429, headers={"Retry-After": seconds})


async def test_a_5xx_and_a_transport_error_are_tried_again() -> None:
    script = Script(httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(200))
    assert (await send(policy(), script)).status_code == 200
    assert script.calls == 3


async def test_the_last_failure_is_the_adapters_error_with_the_tries_made() -> None:
    script = Script(httpx.Response(502), httpx.Response(500))
    with pytest.raises(Failed) as raised:
        await send(policy(attempts=2), script)
    assert raised.value.attempts == 2
    assert isinstance(raised.value.last, httpx.Response)
    assert raised.value.last.status_code == 500


async def test_a_refused_key_fails_at_once() -> None:
    for status in (401, 403):
        script = Script(httpx.Response(503), httpx.Response(status))
        with pytest.raises(Failed) as raised:
            await send(policy(), script)
        assert (raised.value.attempts, script.calls) == (2, 2)


async def test_any_other_answer_is_the_calls() -> None:
    script = Script(httpx.Response(404))
    assert (await send(policy(), script)).status_code == 404
    assert script.calls == 1


async def test_an_error_not_retried_fails_at_once_and_one_retried_is_tried_again() -> None:
    redirects = httpx.TooManyRedirects("loop")
    with pytest.raises(Failed) as raised:
        await send(policy(), Script(redirects))
    assert (raised.value.last, raised.value.attempts) == (redirects, 1)
    script = Script(httpx.TooManyRedirects("loop"), httpx.Response(200))
    assert (await send(policy(retried=httpx.HTTPError), script)).status_code == 200


async def test_a_long_retry_after_is_cut_to_the_cap() -> None:
    script = Script(rate_limited("3600"), httpx.Response(200))
    started = time.monotonic()
    assert (await send(policy("cap"), script)).status_code == 200
    assert 0.2 <= time.monotonic() - started < 2


async def test_a_long_retry_after_ends_the_tries_when_the_policy_gives_up() -> None:
    script = Script(rate_limited("3600"), httpx.Response(200))
    with pytest.raises(Failed) as raised:
        await send(policy("give up"), script)
    assert (raised.value.attempts, script.calls) == (1, 1)


async def test_a_short_retry_after_is_waited_out() -> None:
    script = Script(rate_limited("0.1"), httpx.Response(200))
    started = time.monotonic()
    assert (await send(policy("give up"), script)).status_code == 200
    assert time.monotonic() - started >= 0.1


def test_the_wait_a_429_asks_for_and_the_backoff_otherwise() -> None:
    retry = RetryPolicy(attempts=3, backoff=0.5, max_retry_after=5, over_max_retry_after="cap")
    assert retry.wait_after(rate_limited("7"), 1) == 7.0
    assert retry.wait_after(httpx.Response(429), 2) == 1.0
    assert retry.wait_after(httpx.Response(503, headers={"Retry-After": "7"}), 3) == 2.0
