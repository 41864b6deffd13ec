"""The flag provider port: values of flags per identity, and identity overrides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from admin_core.flags.model import FlagState


class FeatureFlags(Protocol):
    """A flag provider (Flagsmith, or the embedded store). The identity is the tenant id.

    Reads may be served from a cache no older than the adapter's time to live; a write
    invalidates that identity's cache in this process, so it reads its own write at once.
    Failures of the provider raise `FlagsUnavailable` — except `state` with a cached state at
    hand, which is served marked `stale`."""

    async def state(self, identity: str) -> FlagState:
        """The environment's values and the identity's overrides."""
        ...

    async def overrides(self, identity: str) -> Mapping[str, Any]:
        """The identity's overrides as the provider holds them now (never from a cache)."""
        ...

    async def set_override(self, identity: str, flag: str, value: Any) -> None:
        """Create or replace the identity's override of `flag`."""
        ...

    async def clear_override(self, identity: str, flag: str) -> None:
        """Remove the identity's override of `flag`; none there is not an error."""
        ...
