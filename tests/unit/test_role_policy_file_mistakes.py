"""A role policy file that would silently grant no role anything stops start-up, naming the
setting, the file and what is wrong with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrypoints.settings import ConfigurationError, Settings


@pytest.mark.parametrize(
    ("policy", "wrong"),
    [
        ('{"platfrom": {"org:owner": ["super_admin"]}}', "unknown section 'platfrom'"),
        ('{"roles": {}}', "unknown section 'roles'"),
        (
            '{"tenant": {"org:provider:admin": "tenant:manage"}}',
            "tenant.org:provider:admin: the permissions must be a list",
        ),
    ],
)
def test_a_role_policy_misspelt_or_shaped_otherwise_stops_start_up(
    tmp_path: Path, policy: str, wrong: str
) -> None:
    path = tmp_path / "roles.json"
    path.write_text(policy)
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({"ADMIN_ROLE_POLICY_FILE": str(path)})
    [problem] = refused.value.problems
    assert problem.startswith(f"ADMIN_ROLE_POLICY_FILE: {path} is not a role policy:")
    assert wrong in problem
