"""The matching registry (SPEC §6.3): the shipped files and their counts, every class of
error the loader refuses with its file and line, generated registries round-tripping through
the files, the whitelist covered by every adapter, coverage caching and single flight."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import Counter
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.config_files.flags import load_flag_catalogue
from adapters.config_files.matching import (
    check_matching_configuration,
    load_domain_weights,
    load_registry,
    write_registry,
)
from adapters.memory import matching as memory_matching
from adapters.memory.runtime import FixedClock
from adapters.neo4j import matching as neo4j_matching
from adapters.sql import matching as sql_matching
from admin_core.flags.use_cases import OverrideFlagCommand
from admin_core.kernel.errors import InsufficientPermission, ValidationFailed
from admin_core.kernel.principal import Principal
from admin_core.matching.coverage import CoverageCache
from admin_core.matching.errors import MatchingConfigurationInvalid
from admin_core.matching.model import (
    DOMAINS,
    Domain,
    DomainWeights,
    Parameter,
    ParameterInvalid,
    Registry,
    Source,
    Status,
    WeightsInvalid,
)
from admin_core.matching.paths import NEO4J_PATHS, POSTGRES_PATHS
from admin_core.matching.ports import Coverage, CoverageUnavailable
from admin_core.matching.use_cases import (
    DomainWeightsQuery,
    ParametersQuery,
    ShowDomainWeights,
    ShowMatchingParameters,
)
from admin_core.tenants.errors import TenantNotFound
from entrypoints.cli.main import main as adminctl
from tests.support.flags import flag_world
from tests.support.use_cases import caller_without_org, platform_caller, tenant_caller

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "matching"


def test_the_registry_holds_147_parameters_with_the_counts_of_the_spec() -> None:
    registry = load_registry(CONFIG)
    statuses = Counter(
        entry["status"]
        for path in sorted((CONFIG / "parameters").glob("*.yaml"))
        for entry in yaml.safe_load(path.read_text())["parameters"]
    )
    expected = {"active": 14, "seeded": 12, "unseeded": 89, "not_implemented": 32}
    assert dict(statuses) == expected
    assert len(registry.parameters) == 147
    assert {s.value: n for s, n in registry.counts.items()} == expected
    assert {p.domain for p in registry.parameters} == set(Domain)


def test_active_and_seeded_parameters_read_data_we_hold() -> None:
    for p in load_registry(CONFIG).parameters:
        if p.status in (Status.ACTIVE, Status.SEEDED):
            assert p.source in (Source.POSTGRES, Source.NEO4J), p.id


def test_the_domains_are_written_once_and_the_defaults_are_the_flags() -> None:
    catalogue = load_flag_catalogue(ROOT / "config" / "flags.yaml")
    flag = catalogue.get("matching_domain_weights")
    assert flag.weights == DOMAINS == tuple(d.value for d in Domain)
    weights = load_domain_weights(CONFIG)
    assert weights.wire() == flag.default
    assert sum(weights.weights.values()) == pytest.approx(1)


def test_every_adapter_maps_every_measurable_path() -> None:
    assert set(sql_matching.CONDITIONS) == set(POSTGRES_PATHS)
    assert set(memory_matching.STORE_PREDICATES) == set(POSTGRES_PATHS)
    assert set(neo4j_matching.CONDITIONS) == set(NEO4J_PATHS)
    assert set(memory_matching.GRAPH_PREDICATES) == set(NEO4J_PATHS)


# -- the loader's errors, each with its file and line


@pytest.fixture
def config(tmp_path: Path) -> Path:
    target = tmp_path / "matching"
    shutil.copytree(CONFIG, target)
    return target


def edit(config: Path, domain: str, old: str, new: str, *, count: int = 1) -> Path:
    path = config / "parameters" / f"{domain}.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, count))
    return path


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    seen = 0
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == nth:
                return number
    raise AssertionError(needle)


def only_problem(config: Path) -> str:
    problems = check_matching_configuration(config)
    assert len(problems) == 1, problems
    with pytest.raises(MatchingConfigurationInvalid):
        load_registry(config) if "domains.yaml" not in problems[0] else load_domain_weights(config)
    return problems[0]


def test_a_duplicate_id_is_refused_at_its_second_definition(config: Path) -> None:
    path = edit(config, "risk_safety", "id: rs_blood_bank", "id: cc_specialty_offered")
    problem = only_problem(config)
    assert problem.startswith(f"{path}:{line_of(path, 'id: cc_specialty_offered')}: ")
    assert "defined twice" in problem
    assert "clinical_context.yaml:" in problem


@pytest.mark.parametrize(
    ("old", "new", "key", "says"),
    [
        ("status: unseeded", "status: planned", "status: planned", "unknown status"),
        ("source: reference", "source: mysql", "source: mysql", "unknown source"),
        ("weight: 0.087", "weight: 1.5", "weight: 1.5", "from 0 to 1"),
        ("weight: 0.087", "weight: -0.1", "weight: -0.1", "from 0 to 1"),
        ("weight: 0.087", "weight: true", "weight: true", "from 0 to 1"),
        ("domain: risk_safety\n    status", "domain: trust_reputation\n    status",
         "domain: trust_reputation", "in the file of"),
        ("domain: risk_safety\n    status", "domain: astrology\n    status",
         "domain: astrology", "unknown domain"),
        ("path: providers.accreditations", "path: providers.secret_notes",
         "path: providers.secret_notes", "names nothing postgres can measure"),
        ("path: reference.safety.sanctions", "path: reference.safety; DROP TABLE x",
         "path: reference.safety; DROP", "must be a dotted name"),
        ("    description: An on-site blood bank.\n", "    colour: red\n", "colour: red",
         "unknown key 'colour'"),
    ],
)  # fmt: skip
def test_a_bad_entry_is_refused_at_its_line(
    config: Path, old: str, new: str, key: str, says: str
) -> None:
    path = edit(config, "risk_safety", old, new)
    problem = only_problem(config)
    assert problem.startswith(f"{path}:{line_of(path, key)}: "), problem
    assert says in problem


def test_a_graph_path_outside_the_whitelist_is_refused(config: Path) -> None:
    path = edit(
        config,
        "cultural_linguistic",
        "path: (:Doctor).languages",
        "path: MATCH (n) DETACH DELETE n",
    )
    problem = only_problem(config)
    assert problem.startswith(f"{path}:{line_of(path, 'DETACH DELETE')}: ")
    assert "names nothing neo4j can measure" in problem


def test_a_file_whose_name_differs_from_its_domain_is_refused(config: Path) -> None:
    path = edit(
        config,
        "data_quality",
        "domain: data_quality\nparameters",
        "domain: trust_reputation\nparameters",
    )
    problem = only_problem(config)
    assert problem.startswith(f"{path}:{line_of(path, 'domain: trust_reputation')}: ")
    assert "the file of 'data_quality' says domain 'trust_reputation'" in problem


def test_a_file_named_after_no_domain_is_refused(config: Path) -> None:
    stray = config / "parameters" / "astrology.yaml"
    stray.write_text("domain: astrology\nparameters: []\n")
    problem = only_problem(config)
    assert problem.startswith(f"{stray}:1: unknown domain 'astrology'")


def test_a_missing_domain_file_and_a_yaml_error_are_both_named(config: Path) -> None:
    (config / "parameters" / "visa_regulatory.yaml").unlink()
    broken = edit(config, "risk_safety", "  - id: rs_blood_bank", "  - id: [rs_blood_bank")
    problems = check_matching_configuration(config)
    assert len(problems) == 2, problems
    assert any(p.startswith(f"{broken}:") and "not valid YAML" in p for p in problems)
    assert any("visa_regulatory.yaml: missing" in p for p in problems)


def test_domain_weights_that_do_not_sum_to_one_are_refused(config: Path) -> None:
    path = config / "domains.yaml"
    path.write_text(path.read_text().replace("data_quality: 0.04", "data_quality: 0.4"))
    problem = only_problem(config)
    assert problem.startswith(f"{path}:")
    assert "sum to 1" in problem
    path.write_text(path.read_text().replace("data_quality: 0.4", "data_quality: 7"))
    assert check_matching_configuration(config) == [
        f"{path}:{line_of(path, 'data_quality: 7')}: the weight of 'data_quality' must be a"
        " number from 0 to 1"
    ]


def test_adminctl_matching_check_names_every_problem_and_fails(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert adminctl(["matching", "check"]) == 0
    path = edit(config, "risk_safety", "status: unseeded", "status: planned")
    other = edit(config, "cultural_linguistic", "source: reference", "source: mysql")
    capsys.readouterr()
    assert adminctl(["matching", "check", "--dir", str(config)]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error CONFIGURATION_INVALID: 2 problem(s) in ")
    assert f"{path}:{line_of(path, 'status: planned')}:" in err
    assert f"{other}:{line_of(other, 'source: mysql')}:" in err


# -- generated registries round-trip through the files

_text = st.text(
    st.characters(
        min_codepoint=32,
        max_codepoint=0x2FFF,
        exclude_categories=("Cs", "Cc", "Cf", "Zl", "Zp"),  # what one line of text refuses
    ),
    min_size=1,
    max_size=60,
).filter(lambda s: s.strip() == s and s.strip() != "")


@st.composite
def parameters(draw: st.DrawFn, ident: str) -> Parameter:
    source = draw(st.sampled_from(Source))
    if source is Source.POSTGRES:
        path = draw(st.sampled_from(sorted(POSTGRES_PATHS)))
    elif source is Source.NEO4J:
        path = draw(st.sampled_from(sorted(NEO4J_PATHS)))
    else:
        path = draw(
            st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8}){0,3}", fullmatch=True)
        )
    return Parameter(
        id=ident,
        domain=draw(st.sampled_from(Domain)),
        status=draw(st.sampled_from(Status)),
        source=source,
        weight=draw(st.floats(min_value=0, max_value=1, allow_nan=False)),
        path=path,
        description=draw(_text),
    )


@st.composite
def registries(draw: st.DrawFn) -> Registry:
    ids = draw(
        st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True), max_size=25, unique=True)
    )
    return Registry.of(draw(parameters(i)) for i in ids)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(registry=registries())
def test_generated_registries_round_trip_through_the_files(
    registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("registry")
    write_registry(registry, directory)
    assert load_registry(directory) == registry


# -- coverage: cached, single flight, null where a source cannot be read


class CountingMeter:
    def __init__(self, share: int = 1, *, fail: bool = False) -> None:
        self.calls = 0
        self.covered = share
        self.fail = fail

    async def measure(self, paths: Collection[str]) -> Mapping[str, Coverage]:
        self.calls += 1
        await asyncio.sleep(0.01)
        if self.fail:
            raise CoverageUnavailable("down")
        return {p: Coverage(entities=4, covered=self.covered) for p in paths}


async def test_coverage_is_measured_once_for_concurrent_callers_and_again_on_refresh() -> None:
    registry = load_registry(CONFIG)
    clock = FixedClock(datetime(2026, 3, 2, tzinfo=UTC))
    sql, graph = CountingMeter(), CountingMeter(3)
    cache = CoverageCache(registry, {Source.POSTGRES: sql, Source.NEO4J: graph}, clock)

    first, second = await asyncio.gather(cache.get(), cache.get())
    assert first is second
    assert (sql.calls, graph.calls) == (1, 1)
    assert first.share(Source.POSTGRES, "providers.country") == 0.25
    assert first.share(Source.NEO4J, "(:Doctor).languages") == 0.75

    assert await cache.get() is first
    assert sql.calls == 1
    clock.advance(timedelta(minutes=5))
    refreshed = await cache.get(refresh=True)
    assert sql.calls == 2
    assert refreshed.measured_at == first.measured_at + timedelta(minutes=5)


async def test_a_source_that_cannot_be_read_gives_null_and_is_measured_again() -> None:
    registry = load_registry(CONFIG)
    clock = FixedClock(datetime(2026, 3, 2, tzinfo=UTC))
    sql, graph = CountingMeter(), CountingMeter(fail=True)
    cache = CoverageCache(registry, {Source.POSTGRES: sql, Source.NEO4J: graph}, clock)

    snapshot = await cache.get()
    assert snapshot.share(Source.NEO4J, "(:Doctor).languages") is None
    assert snapshot.share(Source.POSTGRES, "providers.country") == 0.25
    graph.fail = False
    again = await cache.get()
    assert graph.calls == 2
    assert again.share(Source.NEO4J, "(:Doctor).languages") == 0.25


def test_adminctl_matching_check_json_is_one_object(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert adminctl(["--json", "matching", "check", "--dir", str(config)]) == 0
    fine = json.loads(capsys.readouterr().out)
    assert (fine["ok"], fine["problems"]) == (True, [])
    assert fine["parameters"] == sum(fine["counts"].values())
    path = edit(config, "risk_safety", "status: unseeded", "status: planned")
    assert adminctl(["--json", "matching", "check", "--dir", str(config)]) == 78
    broken = json.loads(capsys.readouterr().out)
    assert broken["ok"] is False
    assert [p.split(":")[:2] for p in broken["problems"]] == [
        [str(path), str(line_of(path, "status: planned"))]
    ]


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("  - id: rs_blood_bank", "  - id: RS-Blood", "'id' must be lowercase"),
        ("    path: reference.safety.sanctions\n", "", "missing 'path'"),
        ("path: reference.safety.sanctions", "path: 5", "'path' must be text"),
        ("path: reference.safety.sanctions", "path: ''", "'path' must be text"),
        ("description: An on-site blood bank.", "description: '  '", "'description' must be"),
        ("description: An on-site blood bank.", "description: 7", "'description' must be"),
        (
            "description: An on-site blood bank.",
            'description: "An on-site\\nblood bank."',
            "one line",
        ),
        ("description: An on-site blood bank.", "description: " + "x" * 501, "at most"),
    ],
)
def test_an_entry_missing_a_key_or_with_a_bad_id_path_or_description_is_refused(
    config: Path, old: str, new: str, says: str
) -> None:
    path = edit(config, "risk_safety", old, new)
    problem = only_problem(config)
    assert problem.startswith(f"{path}:"), problem
    assert says in problem


def test_an_entry_that_is_no_mapping_is_refused_at_its_line(config: Path) -> None:
    path = edit(config, "risk_safety", "parameters:\n", "parameters:\n  - 7\n")
    problem = only_problem(config)
    assert problem.startswith(f"{path}:{line_of(path, '  - 7')}: "), problem
    assert "a parameter is a mapping" in problem


def test_two_parameters_of_one_id_make_no_registry() -> None:
    """Embedders build a registry from parameters too, not only from the files."""
    [first, *_] = load_registry(CONFIG).parameters
    with pytest.raises(ParameterInvalid, match="defined twice"):
        Registry.of([first, first])


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("  data_quality: 0.04\n", "", "no weight for data_quality"),
        ("  data_quality: 0.04\n", "  data_quality: 0.04\n  astrology: 0\n", "astrology"),
    ],
)
def test_domain_weights_lacking_a_domain_or_naming_an_unknown_one_are_refused(
    config: Path, old: str, new: str, says: str
) -> None:
    path = config / "domains.yaml"
    path.write_text(path.read_text().replace(old, new))
    problem = only_problem(config)
    assert problem.startswith(f"{path}:"), problem
    assert says in problem


@pytest.mark.parametrize("raw", [7, None, "0.5", [0.5, 0.5]])
def test_domain_weights_that_are_no_mapping_are_refused_as_such(raw: object) -> None:
    with pytest.raises(WeightsInvalid, match="mapping of domain to weight"):
        DomainWeights.of(raw)


# -- the matching use cases: who may call them, filters, the tenant's weights


def parameters_use_case() -> ShowMatchingParameters:
    registry = load_registry(CONFIG)
    clock = FixedClock(datetime(2026, 3, 2, tzinfo=UTC))
    meters = {Source.POSTGRES: CountingMeter(), Source.NEO4J: CountingMeter(3)}
    return ShowMatchingParameters(registry, CoverageCache(registry, meters, clock))


@pytest.mark.parametrize(
    "caller",
    [
        tenant_caller("org:admin", "apollo"),
        platform_caller("org:coordinator"),
        caller_without_org(),
    ],
    ids=["tenant admin", "coordinator", "no org"],
)
async def test_only_platform_managers_read_the_parameters(caller: Principal) -> None:
    with pytest.raises(InsufficientPermission):
        await parameters_use_case().execute(caller, ParametersQuery())


async def test_parameter_filters_narrow_the_rows_and_never_the_counts() -> None:
    show = parameters_use_case()
    admin = platform_caller("org:admin")
    everything = await show.execute(admin, ParametersQuery())
    risk = await show.execute(admin, ParametersQuery(domain="risk_safety", status="active"))
    assert len(everything.parameters) == everything.total == 147
    assert risk.parameters
    assert all(
        (r.parameter.domain, r.parameter.status) == (Domain.RISK_SAFETY, Status.ACTIVE)
        for r in risk.parameters
    )
    assert (risk.total, risk.counts) == (everything.total, everything.counts)
    with pytest.raises(ValidationFailed) as refused:
        await show.execute(admin, ParametersQuery(domain="astrology", status="planned"))
    assert sorted(e.field for e in refused.value.errors) == ["domain", "status"]


async def test_a_tenants_weights_are_its_override_else_the_defaults(tmp_path: Path) -> None:
    async with flag_world("memory", tmp_path) as world:
        defaults = load_domain_weights(CONFIG)
        show = ShowDomainWeights(world.flags, defaults)
        admin = tenant_caller("org:admin", "apollo")
        plain = await show.execute(admin, DomainWeightsQuery(tenant_id="apollo"))
        assert (plain.source, plain.weights) == ("default", defaults)
        mine = {d: (1.0 if d == "risk_safety" else 0.0) for d in DOMAINS}
        await world.override.execute(
            admin,
            OverrideFlagCommand(
                tenant_id="apollo", flag="matching_domain_weights", value=mine, reason="risk"
            ),
        )
        own = await show.execute(admin, DomainWeightsQuery(tenant_id="apollo"))
        assert own.source == "override"
        assert own.weights.weights[Domain.RISK_SAFETY] == 1.0
        with pytest.raises(InsufficientPermission):
            await show.execute(admin, DomainWeightsQuery(tenant_id="fortis"))
        with pytest.raises(TenantNotFound):
            await show.execute(
                platform_caller("org:admin"), DomainWeightsQuery(tenant_id="nowhere")
            )
