"""A demo seed stopped part way (the process killed, the machine off) between any two of its
steps: the next start must not take what it left for the demo set, nor for someone else's
data, and must say what happened and the way out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from admin_core.kernel.principal import Principal
from admin_core.tenants.model import TenantStatus
from admin_core.tenants.use_cases import (
    CreateProviderCommand,
    NewProvider,
    NewTenant,
    UpdateTenantCommand,
)
from entrypoints.container import Container, aclose, build_container
from entrypoints.demo.data import DEMO_TENANTS
from entrypoints.demo.seed import (
    CLOSED_TENANT,
    CLOSER,
    DemoSeedRefused,
    DemoStory,
    SeedState,
    seed_demo,
    seed_state,
)
from entrypoints.settings import Settings

#: The story's steps: the directory, one a tenant, roles, time zones, sessions, the closing
#: suspension and the graph rebuild.
STEPS = 6 + len(DEMO_TENANTS)


@pytest.fixture
async def container(tmp_path: Path) -> AsyncIterator[Container]:
    built = build_container(
        Settings(database_url="memory://", local_key_path=tmp_path / "signing.pem")
    )
    try:
        yield built
    finally:
        await aclose(built)


async def _told(container: Container, steps: int) -> None:
    for step in DemoStory(container).steps()[:steps]:
        await step()


async def _someone_elses_clinic(container: Container) -> None:
    await container.tenants.create_provider().execute(
        Principal.operator("test"),
        CreateProviderCommand(provider=NewProvider(name="Clinica Lumen"), tenant=NewTenant()),
    )


def test_the_story_has_the_steps_this_module_cuts_between(container: Container) -> None:
    assert len(DemoStory(container).steps()) == STEPS


@pytest.mark.parametrize("steps", range(2, STEPS - 1))
async def test_a_seed_cut_after_its_first_audited_step_is_refused_and_says_so(
    container: Container, steps: int
) -> None:
    await _told(container, steps)
    assert await seed_state(container) is SeedState.CUT
    with pytest.raises(DemoSeedRefused, match="cut short") as refused:
        await seed_demo(container)
    assert "empty database" in str(refused.value)
    assert await seed_state(container) is SeedState.CUT  # nothing more was written


async def test_a_seed_cut_before_its_first_audited_step_is_seeded_again(
    container: Container,
) -> None:
    await _told(container, 1)  # the directory only: rows, no audit entry
    assert await seed_state(container) is SeedState.EMPTY
    report = await seed_demo(container)
    assert (report.state, report.tenants_created) == (SeedState.EMPTY, len(DEMO_TENANTS))
    assert await seed_state(container) is SeedState.DEMO


async def test_a_seed_cut_only_before_its_best_effort_rebuild_is_the_demo_set(
    container: Container,
) -> None:
    await _told(container, STEPS - 1)
    assert await seed_state(container) is SeedState.DEMO
    assert (await seed_demo(container)).tenants_created == 0


async def test_the_demo_set_stays_the_demo_set_once_an_operator_has_added_to_it(
    container: Container,
) -> None:
    await seed_demo(container)
    await _someone_elses_clinic(container)
    assert await seed_state(container) is SeedState.DEMO
    report = await seed_demo(container)
    assert (report.state, report.tenants_created) == (SeedState.DEMO, 0)


async def test_the_demo_set_stays_the_demo_set_however_often_its_closing_change_is_made_again(
    container: Container,
) -> None:
    """The local token is the closing admin's own: an operator who suspends and reactivates
    that tenant again and again leaves many entries of the closing kind after the story's."""
    await seed_demo(container)
    admin = replace(Principal.operator("test"), user_id=CLOSER)
    update = container.tenants.update_tenant()
    for n in range(150):
        status = TenantStatus.ACTIVE if n % 2 == 0 else TenantStatus.SUSPENDED
        await update.execute(
            replace(admin, request_id=f"req-{n}"),
            UpdateTenantCommand(tenant_id=CLOSED_TENANT, status=status),
        )
    assert await seed_state(container) is SeedState.DEMO


async def test_a_database_holding_only_someone_else_s_tenant_is_other_data(
    container: Container,
) -> None:
    await _someone_elses_clinic(container)
    assert await seed_state(container) is SeedState.OTHER
    with pytest.raises(DemoSeedRefused, match="not the demo set"):
        await seed_demo(container)
