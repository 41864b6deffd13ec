"""The matching routes (SPEC §6.3): what they answer, who may call them, bad filters refused,
refresh measuring again, and domain weights from the defaults or the tenant's override."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.http import ApiClient, api

PARAMETERS = "/api/v1/admin/matching/parameters"
WEIGHTS = "/api/v1/admin/matching/domain-weights"
OVERRIDE = "/api/v1/admin/flags/identity-override"
APOLLO = "apollo-chennai"
APOLLO_ORG = "org_apollo_chennai"
DEFAULTS = {
    "clinical_context": 0.15,
    "provider_capability": 0.12,
    "outcomes_evidence": 0.12,
    "cost_financial": 0.10,
    "logistics_travel": 0.07,
    "visa_regulatory": 0.05,
    "cultural_linguistic": 0.06,
    "patient_preferences": 0.08,
    "risk_safety": 0.10,
    "post_op_continuity": 0.05,
    "data_quality": 0.04,
    "trust_reputation": 0.06,
}


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[ApiClient]:
    async with api(tmp_path) as client:
        yield client


async def parameters(http: ApiClient, **params: Any) -> dict[str, Any]:
    response = await http.client.get(PARAMETERS, params=params, headers=http.auth())
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def test_the_registry_with_its_counts_and_measured_coverage(http: ApiClient) -> None:
    data = await parameters(http)
    counts = {k: data[k] for k in ("total", "active", "seeded", "unseeded", "not_implemented")}
    assert counts == {
        "total": 147,
        "active": 14,
        "seeded": 12,
        "unseeded": 89,
        "not_implemented": 32,
    }
    assert len(data["parameters"]) == 147
    for p in data["parameters"]:
        if p["source"] in ("reference", "computed"):
            assert p["coverage_pct"] is None
            assert p["last_refresh"] is None
        else:
            assert p["last_refresh"] is not None
        if p["status"] in ("active", "seeded"):
            assert 0 <= p["coverage_pct"] <= 1, p
    [country] = [p for p in data["parameters"] if p["id"] == "lt_destination_country"]
    assert country["coverage_pct"] == 1.0
    assert country["path"] == "providers.country"


async def test_filters_select_and_the_counts_stay_those_of_the_files(http: ApiClient) -> None:
    data = await parameters(http, domain="cost_financial", status="active")
    assert [p["id"] for p in data["parameters"]] == ["cf_price_min", "cf_price_max"]
    assert data["total"] == 147
    assert data["active"] == 14


@pytest.mark.parametrize(
    ("params", "field"), [({"domain": "astrology"}, "domain"), ({"status": "live"}, "status")]
)
async def test_a_bad_filter_is_a_validation_error_naming_it(
    http: ApiClient, params: dict[str, str], field: str
) -> None:
    response = await http.client.get(PARAMETERS, params=params, headers=http.auth())
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", field)


async def test_parameters_need_platform_scope(http: ApiClient) -> None:
    response = await http.client.get(
        PARAMETERS, headers=http.auth(role="org:admin", org=APOLLO_ORG)
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "AUTH_INSUFFICIENT_PERMISSION"
    coordinator = await http.client.get(PARAMETERS, headers=http.auth(role="org:coordinator"))
    assert coordinator.status_code == 403


async def test_refresh_measures_again_and_moves_last_refresh(http: ApiClient) -> None:
    first = (await parameters(http))["parameters"][0]["last_refresh"]
    cached = (await parameters(http))["parameters"][0]["last_refresh"]
    assert cached == first
    refreshed = (await parameters(http, refresh="true"))["parameters"][0]["last_refresh"]
    assert refreshed > first


async def weights(http: ApiClient, **auth: Any) -> Any:
    return await http.client.get(WEIGHTS, params={"tenant_id": APOLLO}, headers=http.auth(**auth))


async def test_weights_are_the_defaults_without_an_override(http: ApiClient) -> None:
    response = await weights(http)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {
        "tenant_id": APOLLO,
        "weights": DEFAULTS,
        "source": "default",
    }


async def test_weights_are_the_override_once_the_flag_is_set(http: ApiClient) -> None:
    mine = {**DEFAULTS, "clinical_context": 0.25, "provider_capability": 0.02}
    set_ = await http.client.post(
        OVERRIDE,
        json={
            "tenant_id": APOLLO,
            "flag": "matching_domain_weights",
            "value": mine,
            "reason": "pilot",
        },
        headers=http.auth(),
    )
    assert set_.status_code == 200, set_.text
    data = (await weights(http)).json()["data"]
    assert data["source"] == "override"
    assert data["weights"] == pytest.approx(mine)


@pytest.mark.parametrize(
    "value",
    [
        {**DEFAULTS, "clinical_context": 0.5},  # sums to 1.35
        {**DEFAULTS, "astrology": 0.0},
        {k: v for k, v in DEFAULTS.items() if k != "data_quality"},
        [0.5, 0.5],
    ],
)
async def test_a_bad_override_is_refused_when_written_so_the_read_never_sees_it(
    http: ApiClient, value: Any
) -> None:
    response = await http.client.post(
        OVERRIDE,
        json={
            "tenant_id": APOLLO,
            "flag": "matching_domain_weights",
            "value": value,
            "reason": "x",
        },
        headers=http.auth(),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "FLAG_VALUE_INVALID"
    assert (await weights(http)).json()["data"]["source"] == "default"


async def test_weights_need_tenant_manage_reaching_the_tenant(http: ApiClient) -> None:
    assert (await weights(http, role="org:admin", org=APOLLO_ORG)).status_code == 200
    other = await http.client.get(
        WEIGHTS, params={"tenant_id": "bumrungrad"}, headers=http.auth(org=APOLLO_ORG)
    )
    assert other.status_code == 403
    assert (await weights(http, role="org:coordinator")).status_code == 403
    missing = await http.client.get(WEIGHTS, params={"tenant_id": "nobody"}, headers=http.auth())
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "TENANT_NOT_FOUND"
