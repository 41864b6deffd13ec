"""Feature flags in process memory, and the read cache every flag provider sits behind."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from admin_core.flags.errors import FlagsUnavailable
from admin_core.flags.model import FlagState
from admin_core.flags.ports import FeatureFlags
from admin_core.kernel.errors import DatabaseUnavailable


class InMemoryFeatureFlags(FeatureFlags):
    """The environment's values (the catalogue's defaults, as the embedded mode uses them)
    and each identity's overrides in dictionaries."""

    def __init__(self, environment: Mapping[str, Any]) -> None:
        self._environment = dict(environment)
        self._overrides: dict[str, dict[str, Any]] = {}

    async def state(self, identity: str) -> FlagState:
        return FlagState(
            environment=self._environment, overrides=dict(self._overrides.get(identity, {}))
        )

    async def overrides(self, identity: str) -> Mapping[str, Any]:
        return dict(self._overrides.get(identity, {}))

    async def set_override(self, identity: str, flag: str, value: Any) -> None:
        self._overrides.setdefault(identity, {})[flag] = value

    async def clear_override(self, identity: str, flag: str) -> None:
        self._overrides.get(identity, {}).pop(flag, None)


class CachedFeatureFlags(FeatureFlags):
    """Reads of `inner` kept for `ttl` seconds per identity (SPEC §6.2).

    A write goes to `inner`, then forgets that identity's state, so this process reads its
    own write at once. When `inner` fails and a state of the identity is at hand (however
    old), that state is served marked `stale`, and `inner` is not asked again for `ttl`
    seconds; with nothing at hand the read raises FLAGS_UNAVAILABLE. `overrides` (the fresh
    read a change relies on) is never cached."""

    def __init__(
        self,
        inner: FeatureFlags,
        *,
        ttl: float,
        monotonic: Callable[[], float] = time.monotonic,
        remembered: int = 10_000,
    ) -> None:
        self._inner = inner
        self._ttl = ttl
        self._monotonic = monotonic
        self._remembered = remembered
        #: identity → (its state, when to ask `inner` again)
        self._states: dict[str, tuple[FlagState, float]] = {}

    async def state(self, identity: str) -> FlagState:
        cached = self._states.get(identity)
        now = self._monotonic()
        if cached is not None and now < cached[1]:
            return cached[0]
        try:
            state = await self._inner.state(identity)
        except (FlagsUnavailable, DatabaseUnavailable):  # a bug is not served as stale data
            if cached is None:
                raise
            state = cached[0] if cached[0].stale else replace(cached[0], stale=True)
        if len(self._states) >= self._remembered and identity not in self._states:
            self._states.pop(next(iter(self._states)))
        self._states[identity] = (state, now + self._ttl)
        return state

    async def overrides(self, identity: str) -> Mapping[str, Any]:
        return await self._inner.overrides(identity)

    async def set_override(self, identity: str, flag: str, value: Any) -> None:
        try:
            await self._inner.set_override(identity, flag, value)
        finally:
            self.forget(identity)

    async def clear_override(self, identity: str, flag: str) -> None:
        try:
            await self._inner.clear_override(identity, flag)
        finally:
            self.forget(identity)

    def forget(self, identity: str) -> None:
        self._states.pop(identity, None)
