"""The admin OpenAPI document tells the truth about every operation: an id, what it does and
the permission it needs, the bearer scheme, every error response in the envelope's shape,
closed request bodies, optional bodies marked optional, and bounds on what it takes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from entrypoints.container import build_container
from entrypoints.http.app import ADMIN_SCHEMA_PATH, create_app
from entrypoints.settings import Settings

METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import asyncio

    async def fetch() -> dict[str, Any]:
        key = tmp_path_factory.mktemp("keys") / "signing.pem"
        container = build_container(Settings(database_url="memory://", local_key_path=key))
        async with AsyncTestClient(create_app(container)) as client:
            response = await client.get(f"{ADMIN_SCHEMA_PATH}/openapi.json")
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    return asyncio.run(fetch())


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return resolved


def test_only_admin_routes_are_published(document: dict[str, Any]) -> None:
    assert document["paths"]
    assert all(path.startswith("/api/v1/admin/") for path in document["paths"])


def test_every_operation_has_a_unique_operation_id(document: dict[str, Any]) -> None:
    ids = [op.get("operationId") for _, _, op in operations(document)]
    assert all(ids)
    assert len(ids) == len(set(ids))


def test_the_bearer_scheme_guards_every_operation(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["BearerToken"]["type"] == "http"
    assert schemes["BearerToken"]["scheme"] == "bearer"
    for _, _, op in operations(document):
        assert op.get("security", document.get("security")) == [{"BearerToken": []}]


def test_every_operation_declares_its_errors_in_the_envelope(document: dict[str, Any]) -> None:
    envelope = document["components"]["schemas"]["ErrorEnvelope"]
    assert set(envelope["required"]) >= {"errors", "meta", "success", "data"}
    for method, path, op in operations(document):
        statuses = {int(s) for s in op["responses"]}
        assert {400, 401, 403, 422, 500} <= statuses, (method, path)
        if "requestBody" in op:
            assert {413, 415} <= statuses, (method, path)
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, (method, path, status)


def test_request_bodies_reject_unknown_fields_and_optional_ones_are_optional(
    document: dict[str, Any],
) -> None:
    bodies = 0
    for method, path, op in operations(document):
        body = op.get("requestBody")
        if body is None:
            continue
        bodies += 1
        schema = body["content"]["application/json"]["schema"]
        refs = [s for s in schema.get("oneOf", [schema]) if "$ref" in s]
        for ref in refs:
            assert _resolve(document, ref)["additionalProperties"] is False, (method, path)
        optional = any(s.get("type") == "null" for s in schema.get("oneOf", []))
        assert body["required"] is not optional, (method, path)
    assert bodies >= 5


def test_ids_roles_limits_and_dates_are_bounded(document: dict[str, Any]) -> None:
    for method, path, op in operations(document):
        for parameter in op.get("parameters", []):
            schema = parameter["schema"]
            variants = schema.get("oneOf", [schema])
            for variant in variants:
                if variant.get("type") == "string" and "enum" not in variant:
                    bounded = "maxLength" in variant or "maxLength" in schema
                    assert bounded, (method, path, parameter["name"])
                if variant.get("type") == "integer":
                    where = (method, path, parameter["name"])
                    assert "maximum" in variant, where
                    assert "minimum" in variant, where
            if parameter["in"] == "path":
                assert "pattern" in schema, (method, path, parameter["name"])


def test_the_schema_viewer_loads_nothing_from_outside_the_app(tmp_path: Path) -> None:
    import asyncio
    import re

    async def fetch() -> tuple[str, list[int]]:
        container = build_container(
            Settings(database_url="memory://", local_key_path=tmp_path / "signing.pem")
        )
        async with AsyncTestClient(create_app(container)) as client:
            page = (await client.get(f"{ADMIN_SCHEMA_PATH}/swagger")).text
            urls = re.findall(r'(?:src|href)="([^"]+)"', page)
            statuses = [(await client.get(url)).status_code for url in urls]
        assert urls
        assert all(url.startswith("/") for url in urls), urls
        return page, statuses

    page, statuses = asyncio.run(fetch())
    assert "cdn." not in page
    assert statuses == [200] * len(statuses)


def test_the_viewer_serves_its_own_files_only_and_cannot_be_framed(tmp_path: Path) -> None:
    """The package also ships Swagger's demo page, which loads other hosts' documents: the
    app serves the viewer's own files and nothing else of it."""
    import asyncio

    async def fetch() -> dict[str, int]:
        container = build_container(
            Settings(database_url="memory://", local_key_path=tmp_path / "signing.pem")
        )
        async with AsyncTestClient(create_app(container)) as client:
            viewer = await client.get(ADMIN_SCHEMA_PATH)
            assert viewer.headers["x-frame-options"] == "DENY"
            assert "frame-ancestors 'none'" in viewer.headers["content-security-policy"]
            return {
                name: (await client.get(f"/admin/assets/swagger-ui/{name}")).status_code
                for name in ("swagger-ui-bundle.js", "index.html", "swagger-initializer.js")
            }

    assert asyncio.run(fetch()) == {
        "swagger-ui-bundle.js": 200,
        "index.html": 404,
        "swagger-initializer.js": 404,
    }


#: SPEC §5: the permission each operation needs, and whether only platform scope has it.
PERMISSIONS: dict[str, tuple[str, bool]] = {
    "listTenants": ("tenant:manage", False),
    "createTenant": ("tenant:manage", True),
    "updateTenant": ("tenant:manage", False),
    "mapTenantOrganization": ("tenant:manage", True),
    "createProvider": ("tenant:manage", True),
    "listTenantUsers": ("tenant:manage", False),
    "grantRole": ("tenant:manage", False),
    "revokeRole": ("tenant:manage", False),
    "rebuildGraph": ("graph:rebuild", True),
    "graphStatus": ("graph:rebuild", True),
    "queryAuditLog": ("audit:read", False),
    "verifyAuditChain": ("audit:read", False),
    "showEffectiveFlags": ("tenant:manage", False),
    "overrideFlag": ("tenant:manage", False),
    "clearFlagOverride": ("tenant:manage", False),
    "showTriageThresholds": ("tenant:manage", False),
    "updateTriageThresholds": ("tenant:manage", False),
    "showDomainWeights": ("tenant:manage", False),
    "listMatchingParameters": ("tenant:manage", True),
    "listMsoDoctors": ("tenant:manage", False),
    "onboardMsoDoctor": ("tenant:manage", False),
    "updateMsoDoctor": ("tenant:manage", False),
    "listMsoSessions": ("tenant:manage", False),
    "refundMsoSession": ("tenant:manage", True),
    "externalDependencyHealth": ("tenant:manage", True),
}


def test_each_operation_says_what_it_does_and_the_permission_it_needs(
    document: dict[str, Any],
) -> None:
    described = {op["operationId"]: op.get("description", "") for _, _, op in operations(document)}
    assert set(described) == set(PERMISSIONS)
    for operation_id, (permission, platform) in PERMISSIONS.items():
        scope = "platform scope" if platform else "a tenant-scoped caller: its own tenant only"
        assert f"Needs `{permission}` ({scope})." in described[operation_id], operation_id
    assert "Newest `scheduled_at` first" in described["listMsoSessions"]
    assert "at most one refund" in described["refundMsoSession"]
    assert "newest first" in described["queryAuditLog"]
