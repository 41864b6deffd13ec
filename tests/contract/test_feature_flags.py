"""The FeatureFlags port, one suite on every adapter: the in-memory provider, the SQL one
(SQLite, PostgreSQL) and Flagsmith (the real SDK evaluating the local fake's document) — and
the flag use cases over each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admin_core.flags.errors import FlagUnknown, FlagValueInvalid
from admin_core.flags.model import Provenance
from admin_core.flags.use_cases import (
    ClearFlagOverrideCommand,
    EffectiveFlagsQuery,
    OverrideFlagCommand,
)
from admin_core.tenants.errors import TenantNotFound
from tests.support.flags import (
    OPERATOR,
    PROVIDERS,
    FlagWorld,
    add_tenants,
    catalogue,
    defaults,
    flag_provider,
    flag_world,
    world_on,
)

MARKS = {"postgres": [pytest.mark.postgres]}


@pytest.fixture(params=[pytest.param(p, marks=MARKS.get(p, [])) for p in PROVIDERS])
def provider_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def world(provider_kind: str, tmp_path: Path) -> AsyncIterator[FlagWorld]:
    async with flag_world(provider_kind, tmp_path) as world:
        yield world


VALUES: list[tuple[str, Any]] = [
    ("enable_mso_booking", False),
    ("mso_max_offers_per_case", 7),
    ("triage_risk_threshold", 0.5),
    ("triage_layer_advance_threshold", 1),  # an int given to a float flag reads back as 1.0
    ("matching_strategy_version", "v2.0"),
    ("mso_eligible_decision_stages", ["booked", "researching"]),
]


# --------------------------------------------------------------------------- the port


async def test_an_identity_without_overrides_has_the_environment_defaults(world: FlagWorld) -> None:
    state = await world.provider.state("apollo")
    assert dict(state.overrides) == {}
    for name, value in defaults(world.catalogue).items():
        assert state.environment[name] == value
    assert await world.provider.overrides("apollo") == {}


@pytest.mark.parametrize(("flag", "value"), VALUES)
async def test_an_override_of_each_type_reads_back_as_set(
    world: FlagWorld, flag: str, value: Any
) -> None:
    expected = world.catalogue.get(flag).checked(value)
    await world.provider.set_override("apollo", flag, expected)
    assert (await world.provider.overrides("apollo"))[flag] == expected
    state = await world.provider.state("apollo")
    assert state.overrides[flag] == expected
    assert type(state.overrides[flag]) is type(expected)


async def test_an_override_is_replaced_then_cleared_and_others_stay(world: FlagWorld) -> None:
    p = world.provider
    await p.set_override("apollo", "mso_max_offers_per_case", 5)
    await p.set_override("apollo", "enable_mso_booking", False)
    await p.set_override("apollo", "mso_max_offers_per_case", 9)
    assert await p.overrides("apollo") == {
        "mso_max_offers_per_case": 9,
        "enable_mso_booking": False,
    }
    await p.clear_override("apollo", "mso_max_offers_per_case")
    await p.clear_override("apollo", "mso_max_offers_per_case")  # absent: not an error
    assert await p.overrides("apollo") == {"enable_mso_booking": False}
    assert (await p.state("apollo")).overrides == {"enable_mso_booking": False}


async def test_one_identity_s_overrides_never_reach_another(world: FlagWorld) -> None:
    await world.provider.set_override("apollo", "enable_mso_booking", False)
    assert await world.provider.overrides("fortis") == {}
    assert (await world.provider.state("fortis")).environment["enable_mso_booking"] is True


async def test_an_override_equal_to_the_default_is_still_an_override(world: FlagWorld) -> None:
    await world.provider.set_override("apollo", "mso_max_offers_per_case", 3)
    assert (await world.provider.state("apollo")).overrides == {"mso_max_offers_per_case": 3}


# --------------------------------------------------------------------------- the use cases


async def test_effective_flags_show_where_each_value_comes_from(world: FlagWorld) -> None:
    await world.override.execute(
        OPERATOR,
        OverrideFlagCommand(
            tenant_id="apollo", flag="mso_max_offers_per_case", value=6, reason="pilot"
        ),
    )
    flags = await world.show.execute(OPERATOR, EffectiveFlagsQuery(tenant_id="apollo"))
    assert flags.values["mso_max_offers_per_case"] == 6
    assert flags.sources["mso_max_offers_per_case"] is Provenance.OVERRIDE
    assert flags.sources["enable_mso_booking"] is Provenance.DEFAULT
    assert flags.overrides_applied == ["mso_max_offers_per_case"]
    other = await world.show.execute(OPERATOR, EffectiveFlagsQuery(tenant_id="fortis"))
    assert other.values["mso_max_offers_per_case"] == 3


async def test_an_override_is_audited_once_with_before_after_and_reason(world: FlagWorld) -> None:
    result = await world.override.execute(
        OPERATOR,
        OverrideFlagCommand(
            tenant_id="apollo", flag="triage_risk_threshold", value=0.4, reason="pilot"
        ),
    )
    assert (result.previous_value, result.value, result.changed) == (0.65, 0.4, True)
    [entry] = await world.audit("flag.identity_override")
    assert entry.event_type == "ADMIN_FLAG_IDENTITY_OVERRIDE"
    assert entry.tenant_id == "apollo"
    assert entry.resource_id == "triage_risk_threshold"
    assert entry.before == {"value": 0.65, "overridden": False}
    assert entry.after == {"value": 0.4, "overridden": True, "reason": "pilot"}
    assert entry.request_id == "req-flags"
    same = await world.override.execute(
        OPERATOR,
        OverrideFlagCommand(
            tenant_id="apollo", flag="triage_risk_threshold", value=0.4, reason="again"
        ),
    )
    assert same.changed is False
    assert len(await world.audit("flag.identity_override")) == 1


async def test_clearing_gives_the_default_back_and_is_audited(world: FlagWorld) -> None:
    command = OverrideFlagCommand(
        tenant_id="apollo", flag="enable_mso_booking", value=False, reason="pause"
    )
    await world.override.execute(OPERATOR, command)
    cleared = await world.clear.execute(
        OPERATOR,
        ClearFlagOverrideCommand(tenant_id="apollo", flag="enable_mso_booking", reason="resume"),
    )
    assert (cleared.previous_value, cleared.value, cleared.overrides_applied) == (False, True, [])
    [entry] = await world.audit("flag.identity_override_removed")
    assert entry.before == {"value": False, "overridden": True}
    assert entry.after == {"value": True, "overridden": False, "reason": "resume"}
    again = await world.clear.execute(
        OPERATOR, ClearFlagOverrideCommand(tenant_id="apollo", flag="enable_mso_booking")
    )
    assert again.changed is False
    assert len(await world.audit("flag.identity_override_removed")) == 1


@pytest.mark.parametrize(
    ("flag", "value", "error"),
    [
        ("no_such_flag", 1, FlagUnknown),
        ("enable_mso_booking", "yes", FlagValueInvalid),
        ("mso_max_offers_per_case", 2.5, FlagValueInvalid),
        ("mso_max_offers_per_case", 21, FlagValueInvalid),
        ("triage_layer_advance_threshold", 0.72, FlagValueInvalid),
        ("matching_domain_weights", {"clinical_context": 1.0}, FlagValueInvalid),
        ("matching_strategy_version", "v9", FlagValueInvalid),
        ("mso_eligible_decision_stages", ["booked", "booked"], FlagValueInvalid),
    ],
)
async def test_a_refused_value_changes_nothing(
    world: FlagWorld, flag: str, value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await world.override.execute(
            OPERATOR, OverrideFlagCommand(tenant_id="apollo", flag=flag, value=value, reason="x")
        )
    assert await world.provider.overrides("apollo") == {}
    assert await world.audit("flag.identity_override") == []
    assert await world.intent(1) is None


async def test_an_unknown_tenant_is_tenant_not_found(world: FlagWorld) -> None:
    with pytest.raises(TenantNotFound):
        await world.show.execute(OPERATOR, EffectiveFlagsQuery(tenant_id="nowhere"))
    with pytest.raises(TenantNotFound):
        await world.override.execute(
            OPERATOR,
            OverrideFlagCommand(
                tenant_id="nowhere", flag="enable_mso_booking", value=False, reason="x"
            ),
        )
    assert await world.provider.overrides("nowhere") == {}


# --------------------------------------------------------------------------- property

FLAG_VALUES = {
    "enable_mso_booking": st.booleans(),
    "mso_max_offers_per_case": st.integers(0, 20),
    "triage_risk_threshold": st.floats(0, 1),
    "matching_strategy_version": st.sampled_from(["v1.0", "v2.0", "v2.1"]),
}
OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["apollo", "fortis"]),
        st.sampled_from(sorted(FLAG_VALUES)),
        st.booleans(),  # clear instead of set
        st.data(),
    ),
    max_size=8,
)
EXAMPLES = {"memory": 60, "sqlite": 20, "postgres": 15, "flagsmith": 8}


@pytest.mark.parametrize("kind", [pytest.param(p, marks=MARKS.get(p, [])) for p in PROVIDERS])
def test_effective_flags_are_the_defaults_merged_with_each_last_override(
    kind: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """For any sequence of overrides and clears across tenants."""
    flags = catalogue()

    async def check(operations: list[tuple[str, str, bool, st.DataObject]]) -> None:
        async with flag_provider(kind, tmp_path_factory.mktemp("flags"), flags) as (p, tx):
            await add_tenants(tx, "apollo", "fortis")
            world = world_on(p, tx, flags)
            expected: dict[str, dict[str, Any]] = {"apollo": {}, "fortis": {}}
            for tenant, flag, clear, data in operations:
                if clear:
                    await world.clear.execute(
                        OPERATOR, ClearFlagOverrideCommand(tenant_id=tenant, flag=flag)
                    )
                    expected[tenant].pop(flag, None)
                    continue
                value = data.draw(FLAG_VALUES[flag])
                await world.override.execute(
                    OPERATOR,
                    OverrideFlagCommand(tenant_id=tenant, flag=flag, value=value, reason="r"),
                )
                expected[tenant][flag] = world.catalogue.get(flag).checked(value)
            for tenant, overrides in expected.items():
                shown = await world.show.execute(OPERATOR, EffectiveFlagsQuery(tenant_id=tenant))
                assert dict(shown.values) == {**defaults(flags), **overrides}
                assert shown.overrides_applied == sorted(overrides)

    @settings(max_examples=EXAMPLES[kind], deadline=None)
    @given(operations=OPERATIONS)
    def run(operations: list[tuple[str, str, bool, st.DataObject]]) -> None:
        asyncio.run(check(operations))

    run()
