"""What the adapters of HTTP APIs share about trying a call again: which failures may pass,
how long to wait before the next try (a provider asking us to wait included), and when to
stop. Each provider's adapter gives its numbers and says what a failure is in its words."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx

#: The adapter's error for a call that failed: given the error of its last try or the answer
#: it ended on, and how many tries were made.
Failure = Callable[[httpx.HTTPError | httpx.Response, int], Exception]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How a provider's calls are tried again (for calls that are safe to repeat).

    A call is tried at most `attempts` times. An error of the kind `retried` (a timeout, a
    refused connection), a 5xx or a 429 is tried again after a wait that doubles from
    `backoff` — or, for a 429, what its `Retry-After` asks. A wait after an answer that is
    longer than `max_retry_after` is cut to it (`over_max_retry_after="cap"`) or ends the
    tries (`"give up"`). Any other error, and an answer in `refusals` (our key refused),
    fail at once; any other answer is the call's."""

    attempts: int
    backoff: float
    max_retry_after: float
    over_max_retry_after: Literal["cap", "give up"]
    retried: type[httpx.HTTPError] = httpx.TransportError
    refusals: frozenset[int] = frozenset({401, 403})

    def backoff_after(self, attempt: int) -> float:
        """The wait after failed try `attempt` (from 1) when nothing asks for another."""
        return self.backoff * 2.0 ** (attempt - 1)

    def wait_after(self, response: httpx.Response, attempt: int) -> float:
        """The wait `response`, the answer to try `attempt`, calls for, before any cap."""
        asked = retry_after(response) if response.status_code == 429 else None
        return self.backoff_after(attempt) if asked is None else asked

    async def send(
        self,
        call: Callable[[], Awaitable[httpx.Response]],
        *,
        failure: Failure,
        log: logging.Logger,
        where: str,
    ) -> httpx.Response:
        """The answer to `call`, tried as the policy says; raises `failure(...)` when it
        fails. `where` names the call in the log (never a credential): every try that is
        tried again, or was the last, is logged."""
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            try:
                response = await call()
            except self.retried as error:
                log.warning("%s failed (try %d): %r", where, attempt, error)
                if last:
                    raise failure(error, attempt) from error
                await asyncio.sleep(self.backoff_after(attempt))
                continue
            except httpx.HTTPError as error:
                raise failure(error, attempt) from error
            status = response.status_code
            if status in self.refusals:
                raise failure(response, attempt)
            if status != 429 and status < 500:
                return response
            log.warning("%s answered %d (try %d)", where, status, attempt)
            wait = self.wait_after(response, attempt)
            if wait > self.max_retry_after:
                if self.over_max_retry_after == "give up":
                    raise failure(response, attempt)
                wait = self.max_retry_after
            if last:
                raise failure(response, attempt)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds (a number or an HTTP date); None when absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
