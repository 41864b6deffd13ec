"""Probing every external dependency at once, each within its own time, with the answer
cached for a few seconds and one probe per dependency however many callers ask
(docs/adr/0054-external-dependency-health.md)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Sequence

from admin_core.health.model import DependencyHealth, DependencyStatus, ExternalHealth
from admin_core.health.ports import DependencyDown, DependencyNotConfigured, DependencyProbe
from admin_core.kernel.runtime import Clock

#: Past each probe's own timeout, how long the check waits for a probe that does not give up
#: when told to (cancellation) before it answers without it.
GRACE_SECONDS = 0.25
#: The longest `error` text shown.
ERROR_MAX = 300


class DependencyMonitor:
    """The health of every dependency, as one answer.

    Rules:
    - every probe runs concurrently, each bounded by `timeout_seconds` of its own: one that
      hangs is `down` ("no answer within ... s") and delays no other, so the whole answer
      comes within `timeout_seconds` plus a short grace;
    - a probe that raises `DependencyNotConfigured` is `not_configured`; `DependencyDown`,
      a timeout or any other exception is `down` (an unexpected exception is named by its
      class only: its text may carry what must not be shown);
    - an answer is reused for `cache_seconds` after it was made; while one is being made,
      every caller awaits that same one (single flight): a burst of requests makes one
      probe per dependency. A caller that goes away does not cancel it;
    - error texts are cut to 300 characters, and any of `secrets` they contain is replaced
      by `***` (the probes name no secret; this is the second line of defence).
    """

    def __init__(
        self,
        probes: Sequence[DependencyProbe],
        *,
        clock: Clock,
        timeout_seconds: float,
        cache_seconds: float,
        secrets: Collection[str] = (),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        names = [p.name for p in probes]
        if len(set(names)) != len(names):
            raise ValueError(f"two probes share a name: {names}")
        self._probes = tuple(probes)
        self._clock = clock
        self._timeout = timeout_seconds
        self._cache_seconds = cache_seconds
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
        self._monotonic = monotonic
        self._cached: tuple[float, ExternalHealth] | None = None
        self._refresh: asyncio.Task[ExternalHealth] | None = None
        self._refresh_loop: asyncio.AbstractEventLoop | None = None
        self._abandoned: set[asyncio.Task[DependencyHealth]] = set()

    async def current(self) -> ExternalHealth:
        """The cached answer while it is fresh, else the one being made (or a new one)."""
        cached = self._cached
        if cached is not None and self._monotonic() - cached[0] < self._cache_seconds:
            return cached[1]
        loop = asyncio.get_running_loop()
        if self._refresh is None or self._refresh_loop is not loop:
            self._refresh = loop.create_task(self._check_all())
            self._refresh_loop = loop
            self._refresh.add_done_callback(self._refreshed)
        return await asyncio.shield(self._refresh)

    def _refreshed(self, task: asyncio.Task[ExternalHealth]) -> None:
        if task is self._refresh:
            self._refresh = None
        if not task.cancelled() and task.exception() is None:
            self._cached = (self._monotonic(), task.result())

    async def _check_all(self) -> ExternalHealth:
        checked_at = self._clock.now()
        tasks = [asyncio.create_task(self._check(p)) for p in self._probes]
        if tasks:
            await asyncio.wait(tasks, timeout=self._timeout + GRACE_SECONDS)
        results: dict[str, DependencyHealth] = {}
        for probe, task in zip(self._probes, tasks, strict=True):
            if task.done():
                results[probe.name] = task.result()
                continue
            task.cancel()  # it ignored its own timeout; never awaited again
            self._abandoned.add(task)
            task.add_done_callback(self._abandoned.discard)
            results[probe.name] = DependencyHealth(
                status=DependencyStatus.DOWN,
                latency_ms=round((self._timeout + GRACE_SECONDS) * 1000),
                error=self._no_answer(),
            )
        return ExternalHealth(
            status=ExternalHealth.overall(results), checked_at=checked_at, dependencies=results
        )

    async def _check(self, probe: DependencyProbe) -> DependencyHealth:
        started = self._monotonic()
        error: str
        try:
            async with asyncio.timeout(self._timeout):
                await probe.check()
        except DependencyNotConfigured:
            return DependencyHealth(status=DependencyStatus.NOT_CONFIGURED)
        except DependencyDown as down:
            error = str(down) or "down"
        except TimeoutError:
            error = self._no_answer()
        except Exception as unexpected:  # noqa: BLE001 - any failure is a `down` verdict
            error = f"probe failed ({type(unexpected).__name__})"
        else:
            return DependencyHealth(status=DependencyStatus.OK, latency_ms=self._since(started))
        return DependencyHealth(
            status=DependencyStatus.DOWN, latency_ms=self._since(started), error=self._safe(error)
        )

    def _since(self, started: float) -> int:
        return max(0, round((self._monotonic() - started) * 1000))

    def _no_answer(self) -> str:
        return f"no answer within {self._timeout:g} s"

    def _safe(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text if len(text) <= ERROR_MAX else text[: ERROR_MAX - 1] + "…"
