"""Writing a tenant's overrides to the flag provider, as one side effect (docs/adr/0048).

One intent carries every change of one request (one override, or the thresholds of a triage
update). Applied in order; when one fails, those already written are put back, so the
provider holds all the changes or none. `settle` tells which it holds after a crash, and puts
back a half-applied set first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from admin_core.flags.model import FlagChange
from admin_core.flags.ports import FeatureFlags
from admin_core.side_effects.model import APPLIED, NOT_APPLIED, Answer, Intent
from admin_core.side_effects.ports import SideEffectsTransaction

#: The kind of intent this effect performs.
KIND = "flags.overrides"


def subject(tenant_id: str) -> str:
    """Changes of one tenant's flags never overlap: at most one is pending at a time."""
    return f"flags:{tenant_id}"


_ABSENT = object()


def payload(
    tenant_id: str, changes: Sequence[FlagChange], held: Mapping[str, Any]
) -> dict[str, Any]:
    """The intent's payload: the changes, and the overrides they were planned on (`held`), by
    which `settle` tells this change's writes from another's."""
    return {
        "tenant_id": tenant_id,
        "held": dict(held),
        "changes": [
            {
                "flag": c.flag,
                "value": c.value,
                "clear": c.clear,
                "had_override": c.had_override,
                "previous": c.previous,
            }
            for c in changes
        ],
    }


def _changes(intent: Intent) -> tuple[str, list[FlagChange]]:
    raw = intent.payload
    return str(raw["tenant_id"]), [FlagChange(**change) for change in raw["changes"]]


class FlagOverrides:
    """The `Effect` of `KIND` intents."""

    def __init__(self, flags: FeatureFlags) -> None:
        self._flags = flags

    async def apply(self, intent: Intent) -> Answer:
        tenant_id, changes = _changes(intent)
        for done, change in enumerate(changes):
            try:
                await self._write(tenant_id, change)
            except Exception:
                await self._put_back(tenant_id, changes[:done])
                raise
        return APPLIED

    async def settle(self, intent: Intent, *, redrive: bool) -> Answer:
        """What the provider holds of the change: all of it (applied), none of it, or part of
        it (put back, then not applied). Overrides that are neither what the change was
        planned on nor what it writes were written by another change — the plan was stale,
        its caller died before it found so, and it never called the provider — so nothing is
        put back over them."""
        tenant_id, changes = _changes(intent)
        now = await self._flags.overrides(tenant_id)
        planned_on = intent.payload.get("held")
        if planned_on is not None and not _within(now, planned_on, changes):
            return NOT_APPLIED
        if all(_holds(now, c, target=True) for c in changes):
            return APPLIED
        await self._put_back(tenant_id, [c for c in changes if _holds(now, c, target=True)])
        return NOT_APPLIED

    async def record(self, tx: SideEffectsTransaction, intent: Intent, answer: Answer) -> None:
        """Flags keep nothing of their own beside the intent and its audit entries."""

    async def _write(self, tenant_id: str, change: FlagChange) -> None:
        if change.clear:
            await self._flags.clear_override(tenant_id, change.flag)
        else:
            await self._flags.set_override(tenant_id, change.flag, change.value)

    async def _put_back(self, tenant_id: str, changes: Sequence[FlagChange]) -> None:
        """Restore what `changes` replaced, last first. A failure propagates: the intent stays
        pending and reconcile tries again."""
        for change in reversed(changes):
            if change.had_override:
                await self._flags.set_override(tenant_id, change.flag, change.previous)
            else:
                await self._flags.clear_override(tenant_id, change.flag)


def _holds(held: Mapping[str, Any], change: FlagChange, *, target: bool) -> bool:
    """Whether the provider holds the change's target (or, `target=False`, what it
    replaced)."""
    value = held.get(change.flag, _ABSENT)
    if target:
        return value is _ABSENT if change.clear else same_value(value, change.value)
    return same_value(value, change.previous) if change.had_override else value is _ABSENT


def _within(
    now: Mapping[str, Any], planned_on: Mapping[str, Any], changes: Sequence[FlagChange]
) -> bool:
    """Whether `now` is `planned_on` with some of `changes` written: every changed flag holds
    its target or what it replaced, every other flag what it held."""
    changed = {c.flag for c in changes}
    for flag in (now.keys() | planned_on.keys()) - changed:
        if flag not in now or flag not in planned_on or not same_value(now[flag], planned_on[flag]):
            return False
    return all(_holds(now, c, target=True) or _holds(now, c, target=False) for c in changes)


def same_value(held: Any, wanted: Any) -> bool:
    """Equal as JSON values (a provider may hand back 1.0 for 1, never True for 1)."""
    if isinstance(held, bool) or isinstance(wanted, bool):
        return held is wanted
    return bool(held == wanted)


def same_overrides(now: Mapping[str, Any], then: Mapping[str, Any]) -> bool:
    """The same flags overridden, each with the same value."""
    return now.keys() == then.keys() and all(same_value(now[k], then[k]) for k in now)
