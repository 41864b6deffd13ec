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
from tests.support.doctors import doctor_body

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
        assert 429 not in statuses, (method, path)  # nothing in the app limits the rate
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


#: SPEC §4's codes of the statuses an operation declares for what it names: a request that
#: gets each, on the demo data. `{doctor}` and `{other_email}` are one apollo-chennai doctor
#: and another's email.
_T = "apollo-chennai"
_DOCTOR = doctor_body("nowhere", email="l.ramanathan@apollo.example")
_FLAG = "flag=enable_mso_booking"
NAMED: dict[tuple[str, str], tuple[str, str, dict[str, Any] | None]] = {
    ("createTenant", "PROVIDER_NOT_FOUND"): ("POST", "/tenants", {"provider_id": "prv_none"}),
    ("createTenant", "TENANT_ALREADY_EXISTS"): (
        "POST",
        "/tenants",
        {"provider_id": "prv_apollo_chennai"},
    ),
    ("updateTenant", "TENANT_NOT_FOUND"): ("PATCH", "/tenants/nowhere", {"name": "X"}),
    ("mapTenantOrganization", "TENANT_NOT_FOUND"): (
        "PUT",
        "/tenants/nowhere/org-mapping",
        {"clerk_org_id": "org_new"},
    ),
    ("mapTenantOrganization", "TENANT_ALREADY_EXISTS"): (
        "PUT",
        f"/tenants/{_T}/org-mapping",
        {"clerk_org_id": "org_medanta"},
    ),
    ("createProvider", "TENANT_ALREADY_EXISTS"): (
        "POST",
        "/providers",
        {"provider": {"name": "New"}, "tenant": {"id": _T}},
    ),
    ("listTenantUsers", "TENANT_NOT_FOUND"): ("GET", "/tenants/nowhere/users", None),
    ("grantRole", "TENANT_NOT_FOUND"): (
        "POST",
        "/tenants/nowhere/users/user_x/roles",
        {"role": "org:provider:staff"},
    ),
    ("grantRole", "USER_NOT_FOUND"): (
        "POST",
        f"/tenants/{_T}/users/user_nobody/roles",
        {"role": "org:provider:staff"},
    ),
    ("revokeRole", "TENANT_NOT_FOUND"): (
        "DELETE",
        "/tenants/nowhere/users/user_x/roles/org:provider:staff",
        None,
    ),
    ("rebuildGraph", "GRAPH_REBUILD_IN_PROGRESS"): ("POST", "/graph/rebuild", {}),
    ("queryAuditLog", "TENANT_NOT_FOUND"): ("GET", "/audit-log?tenant_id=nowhere", None),
    ("verifyAuditChain", "TENANT_NOT_FOUND"): ("GET", "/audit-log/verify?tenant_id=nowhere", None),
    ("showEffectiveFlags", "TENANT_NOT_FOUND"): ("GET", "/flags/effective?tenant_id=nowhere", None),
    ("overrideFlag", "TENANT_NOT_FOUND"): (
        "POST",
        "/flags/identity-override",
        {"tenant_id": "nowhere", "flag": "enable_mso_booking", "value": False, "reason": "r"},
    ),
    ("clearFlagOverride", "TENANT_NOT_FOUND"): (
        "DELETE",
        f"/flags/identity-override?tenant_id=nowhere&{_FLAG}",
        None,
    ),
    ("showTriageThresholds", "TENANT_NOT_FOUND"): (
        "GET",
        "/triage/thresholds?tenant_id=nowhere",
        None,
    ),
    ("updateTriageThresholds", "TENANT_NOT_FOUND"): (
        "PUT",
        "/triage/thresholds",
        {"tenant_id": "nowhere", "values": {"mso_max_offers_per_case": 4}, "reason": "r"},
    ),
    ("updateTriageThresholds", "TRIAGE_THRESHOLDS_CHANGED"): (
        "PUT",
        "/triage/thresholds",
        {
            "tenant_id": _T,
            "values": {"mso_max_offers_per_case": 4},
            "expected": {"mso_max_offers_per_case": 19},
            "reason": "r",
        },
    ),
    ("showDomainWeights", "TENANT_NOT_FOUND"): (
        "GET",
        "/matching/domain-weights?tenant_id=nowhere",
        None,
    ),
    ("listMsoDoctors", "TENANT_NOT_FOUND"): ("GET", "/mso/doctors?tenant_id=nowhere", None),
    ("onboardMsoDoctor", "TENANT_NOT_FOUND"): ("POST", "/mso/doctors", _DOCTOR),
    ("onboardMsoDoctor", "MSO_DOCTOR_ALREADY_EXISTS"): (
        "POST",
        "/mso/doctors",
        {**_DOCTOR, "tenant_id": _T},
    ),
    ("updateMsoDoctor", "MSO_DOCTOR_NOT_FOUND"): (
        "PATCH",
        "/mso/doctors/msd_none",
        {"active": False},
    ),
    ("updateMsoDoctor", "MSO_DOCTOR_ALREADY_EXISTS"): (
        "PATCH",
        "/mso/doctors/{doctor}",
        {"email": "{other_email}"},
    ),
    ("listMsoSessions", "TENANT_NOT_FOUND"): ("GET", "/mso/sessions?tenant_id=nowhere", None),
    ("refundMsoSession", "MSO_SESSION_NOT_FOUND"): (
        "POST",
        "/mso/sessions/mso_none/refund",
        {"reason": "r"},
    ),
    ("refundMsoSession", "MSO_REFUND_NOT_ALLOWED"): (
        "POST",
        "/mso/sessions/mso_apollo_002/refund",  # pending_payment, in the sandbox
        {"reason": "r"},
    ),
}


async def test_each_operation_answers_the_codes_its_not_found_and_conflict_responses_name(
    tmp_path: Path,
) -> None:
    """Generated from the document: every code a 404 or 409 response of an operation names
    is answered by that operation with that status; naming one without a request here fails,
    as does a 404 or 409 that names none."""
    from tests.support.http import api

    async with api(tmp_path) as http:
        document = (await http.client.get(f"{ADMIN_SCHEMA_PATH}/openapi.json")).json()
        named = set()
        for _, _, op in operations(document):
            for status in ("404", "409"):
                if status in op["responses"]:
                    said = op["responses"][status]["description"].split(":", 1)[0]
                    codes = said.split(" or ")
                    assert all(code.isupper() for code in codes), (op["operationId"], said)
                    named |= {(op["operationId"], code) for code in codes}
        assert named == set(NAMED)
        headers = http.auth("org:super_admin")
        doctors = (
            await http.client.get(f"/api/v1/admin/mso/doctors?tenant_id={_T}", headers=headers)
        ).json()["data"]["doctors"]
        fill = {"{doctor}": doctors[0]["id"], "{other_email}": doctors[1]["email"]}
        answers = {}
        for (operation_id, code), (method, path, body) in NAMED.items():
            for placeholder, value in fill.items():
                path = path.replace(placeholder, value)
                if body is not None:
                    body = {k: value if v == placeholder else v for k, v in body.items()}
            request = http.client.request(
                method, f"/api/v1/admin{path}", headers=headers, json=body
            )
            if code == "GRAPH_REBUILD_IN_PROGRESS":
                async with http.container.graph.rebuild_lock().hold() as held:
                    assert held
                    answer = await request
            else:
                answer = await request
            answers[(operation_id, code)] = (
                answer.status_code,
                [e["code"] for e in answer.json()["errors"] or []],
            )
    expected = {(op, code): (404 if "NOT_FOUND" in code else 409, [code]) for op, code in NAMED}
    assert answers == expected


async def test_the_limits_the_document_states_for_bodies_are_the_limits_applied(
    tmp_path: Path,
) -> None:
    """Generated from the document: a body of the size its 413 names is taken, one byte more
    is PAYLOAD_TOO_LARGE; a body nested as deep as its 400 names is read, one level more is
    BAD_REQUEST — on every operation that takes a body."""
    import re

    from tests.support.http import api

    async with api(tmp_path) as http:
        document = (await http.client.get(f"{ADMIN_SCHEMA_PATH}/openapi.json")).json()
        headers = {**http.auth("org:super_admin"), "content-type": "application/json"}
        checked = 0
        for method, path, op in operations(document):
            if "requestBody" not in op:
                continue
            checked += 1
            size = re.search(r"over (\d+) bytes", op["responses"]["413"]["description"])
            depth = re.search(r"deeper than (\d+) levels", op["responses"]["400"]["description"])
            assert size is not None, (method, path)
            assert depth is not None, (method, path)
            url = re.sub(r"\{[^}]+\}", "x", path)

            async def send(body: bytes, method: str = method, url: str = url) -> tuple[int, str]:
                answer = await http.client.request(method, url, content=body, headers=headers)
                errors = answer.json().get("errors") or [{"code": ""}]
                return answer.status_code, errors[0]["code"]

            limit = int(size[1])
            assert (await send(b"{}".ljust(limit)))[0] != 413, (method, path)
            assert await send(b"{}".ljust(limit + 1)) == (413, "PAYLOAD_TOO_LARGE"), path
            levels = int(depth[1])
            nested = b'{"a": ' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"
            assert (await send(nested))[1] != "BAD_REQUEST", (method, path)
            deeper = b'{"a": ' + b"[" * levels + b"]" * levels + b"}"
            assert await send(deeper) == (400, "BAD_REQUEST"), (method, path)
    assert checked >= 10


def _probes(schema: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """Values a flag's value schema admits, and values it refuses, read from its keywords."""
    if "enum" in schema:
        return list(schema["enum"]), ["not one of them", None]
    kind = schema.get("type")
    if kind == "boolean":
        return [True, False], [1, "true", None]
    if kind in ("integer", "number"):
        low, high = schema["minimum"], schema["maximum"]
        refused = [low - 1, high + 1, str(low), True, None]
        return [low, high], refused + ([low + 0.5] if kind == "integer" else [])
    if kind == "array":
        allowed = schema["items"]["enum"]
        return [[], allowed[:2]], [[allowed[0], allowed[0]], ["not one of them"], allowed[0]]
    if kind == "object":
        keys = schema["required"]
        even = dict.fromkeys(keys, 1 / len(keys))
        return [even], [{**even, "other": 0}, dict.fromkeys(keys[1:], 0), {**even, keys[0]: 2}]
    raise AssertionError(f"a flag value schema without probes: {schema}")


async def test_each_flag_value_the_document_admits_is_taken_and_each_it_refuses_is_refused(
    tmp_path: Path,
) -> None:
    """Generated from the document: the value schema it gives each flag of an override, and
    each threshold of a thresholds update (a name not among them refused too), admits the
    values the API takes and refuses those the API answers FLAG_VALUE_INVALID (a float's
    step, which JSON Schema cannot state within a float's rounding, is said in words)."""
    from tests.support.http import api

    async with api(tmp_path) as http:
        document = (await http.client.get(f"{ADMIN_SCHEMA_PATH}/openapi.json")).json()
        schemas = document["components"]["schemas"]
        catalogue = http.container.flags.catalogue()
        headers = http.auth("org:super_admin")
        by_flag = {
            variant["properties"]["flag"]["const"]: variant["properties"]["value"]
            for variant in schemas["OverrideIn"]["oneOf"]
        }
        assert set(by_flag) == set(catalogue.definitions)
        answers: dict[tuple[str, str], set[tuple[int, str]]] = {}
        for flag, schema in by_flag.items():
            taken, refused = _probes(schema)
            for kind, values in (("taken", taken), ("refused", refused)):
                for value in values:
                    body = {"tenant_id": _T, "flag": flag, "value": value, "reason": "probe"}
                    answer = await http.client.post(
                        "/api/v1/admin/flags/identity-override", json=body, headers=headers
                    )
                    errors = answer.json().get("errors") or [{"code": ""}]
                    said = (answer.status_code, f"{errors[0]['code']} {errors[0].get('field')}")
                    answers.setdefault((flag, kind), set()).add(said)
        expected = {
            (flag, kind): {(200, " None")}
            if kind == "taken"
            else {(422, "FLAG_VALUE_INVALID value")}
            for flag in by_flag
            for kind in ("taken", "refused")
        }
        assert answers == expected

        values = schemas["ThresholdsIn"]["properties"]["values"]
        names = {d.name for d in catalogue.triage}
        assert set(values["properties"]) == names
        assert values["additionalProperties"] is False
        expected_names = next(
            v for v in schemas["ThresholdsIn"]["properties"]["expected"]["anyOf"] if "type" in v
        )
        assert set(expected_names["propertyNames"]["enum"]) == names
        found: dict[str, set[tuple[int, str]]] = {}
        for name, either in values["properties"].items():
            schema, null = either["anyOf"]
            assert null == {"type": "null"}
            taken, refused = _probes(schema)
            for value in [*taken, None]:
                body = {"tenant_id": _T, "values": {name: value}, "reason": "probe"}
                answer = await http.client.put(
                    "/api/v1/admin/triage/thresholds", json=body, headers=headers
                )
                found.setdefault("taken", set()).add((answer.status_code, ""))
            for value in [v for v in refused if v is not None]:
                body = {"tenant_id": _T, "values": {name: value}, "reason": "probe"}
                answer = await http.client.put(
                    "/api/v1/admin/triage/thresholds", json=body, headers=headers
                )
                error = (answer.json().get("errors") or [{"field": ""}])[0]
                found.setdefault(name, set()).add((answer.status_code, error["field"]))
        assert found == {
            "taken": {(200, "")},
            **{name: {(422, f"values.{name}")} for name in names},
        }
        unknown = {"tenant_id": _T, "values": {"not_a_threshold": 1}, "reason": "probe"}
        for body in (unknown, {**unknown, "values": {name: None}, "expected": {"x": 1}}):
            answer = await http.client.put(
                "/api/v1/admin/triage/thresholds", json=body, headers=headers
            )
            assert (answer.status_code, answer.json()["errors"][0]["code"]) == (
                422,
                "FLAG_UNKNOWN",
            )
