"""Bad input, class by class: every operation answers it with a clear error in the envelope,
changes nothing, and never yields a 500 — in the API and in the CLI alike."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.routes import HTTPRoute

from entrypoints.cli.main import main
from entrypoints.http.requests import MAX_JSON_DEPTH
from tests.support.doctors import doctor_body
from tests.support.http import ApiClient, api, raw_call
from tests.support.serving import serving

TENANTS = "/api/v1/admin/tenants"
AUDIT = "/api/v1/admin/audit-log"

#: One request per admin operation that takes a JSON body: (method, path, a valid body).
#: Ids in the paths of body operations (the doctor need not exist: bodies are read first).
DOCTOR = "msd_unknown"
SESSION = "mso_apollo_040"
BODY_OPERATIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", TENANTS, {"provider_id": "prv_unknown"}),
    ("PATCH", f"{TENANTS}/apollo-chennai", {"name": "Apollo"}),
    ("PUT", f"{TENANTS}/apollo-chennai/org-mapping", {"clerk_org_id": "org_new"}),
    ("POST", "/api/v1/admin/providers", {"provider": {"name": "New Hospital"}}),
    ("POST", f"{TENANTS}/apollo-chennai/users/user_new_hire/roles", {"role": "org:admin"}),
    ("POST", "/api/v1/admin/graph/rebuild", {"scope": "doctors"}),
    (
        "POST",
        "/api/v1/admin/flags/identity-override",
        {
            "tenant_id": "apollo-chennai",
            "flag": "enable_mso_booking",
            "value": False,
            "reason": "r",
        },
    ),
    (
        "PUT",
        "/api/v1/admin/triage/thresholds",
        {"tenant_id": "apollo-chennai", "values": {"mso_max_offers_per_case": 4}, "reason": "r"},
    ),
    (
        "POST",
        "/api/v1/admin/mso/doctors",
        doctor_body("apollo-chennai"),
    ),
    ("PATCH", f"/api/v1/admin/mso/doctors/{DOCTOR}", {"active": False}),
    ("POST", f"/api/v1/admin/mso/sessions/{SESSION}/refund", {"reason": "r"}),
]
#: One request per admin read.
READS = [
    TENANTS,
    f"{TENANTS}/apollo-chennai/users",
    "/api/v1/admin/graph/status",
    AUDIT,
    f"{AUDIT}/verify",
]


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[ApiClient]:
    async with api(tmp_path) as client:
        yield client


def state(http: ApiClient) -> Any:
    store = http.container.database.store()
    return (dict(store.tenants), dict(store.providers), len(store.audit_entries))


def codes(response: Any) -> list[str]:
    body = response.json()
    assert body["success"] is False
    assert body["data"] is None
    return [e["code"] for e in body["errors"]]


async def test_every_body_operation_is_listed(http: ApiClient) -> None:
    app = http.client.app
    taking_bodies = {
        method
        + " "
        + route.path_format.replace("{tenant_id}", "apollo-chennai")
        .replace("{user_id}", "user_new_hire")
        .replace("{doctor_id}", DOCTOR)
        .replace("{session_id}", SESSION)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        if "data" in handler.parsed_fn_signature.parameters
        for method in handler.http_methods
    }
    assert taking_bodies == {f"{method} {path}" for method, path, _ in BODY_OPERATIONS}


async def test_every_method_of_every_route_answers_without_a_500(http: ApiClient) -> None:
    """OPTIONS and HEAD included (Litestar makes their handlers), with a query parameter and
    without one."""
    answers = {}
    for route in http.client.app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path = re.sub(r"\{[^}]+\}", "x", route.path_format)
        for method in sorted(route.methods):
            for params in ({}, {"limit": "1"}):
                response = await http.client.request(
                    method, path, params=params, headers=http.auth()
                )
                answers[f"{method} {path} {params}"] = response.status_code
    assert answers
    assert {call: status for call, status in answers.items() if status >= 500} == {}


@pytest.mark.parametrize(("method", "path", "body"), BODY_OPERATIONS)
async def test_a_json_body_under_another_content_type_is_415(
    http: ApiClient, method: str, path: str, body: dict[str, Any]
) -> None:
    before = state(http)
    response = await http.client.request(
        method,
        path,
        content=json.dumps(body).encode(),
        headers={**http.auth(role="org:super_admin"), "content-type": "text/plain"},
    )
    assert response.status_code == 415
    assert codes(response) == ["UNSUPPORTED_MEDIA_TYPE"]
    assert state(http) == before


@pytest.mark.parametrize(("method", "path", "body"), BODY_OPERATIONS)
async def test_json_nested_too_deep_is_400_in_every_body(
    http: ApiClient, method: str, path: str, body: dict[str, Any]
) -> None:
    depth = 1000
    key = next(iter(body))
    deep = (f'{{"{key}": ' + "[" * depth + "]" * depth + "}").encode()
    response = await http.client.request(
        method,
        path,
        content=deep,
        headers={**http.auth(role="org:super_admin"), "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]


async def test_json_within_the_depth_limit_is_read_normally(http: ApiClient) -> None:
    nested = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    response = await http.client.post(
        "/api/v1/admin/graph/rebuild",
        content=f'{{"scope": {nested}}}'.encode(),
        headers={**http.auth(), "content-type": "application/json"},
    )
    # Decoded and checked field by field like any body: a list is not a scope, so the error
    # names the field and the array it got, not the depth.
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "scope")
    assert "array" in error["message"]


@pytest.mark.parametrize(
    ("method", "path", "body"), [op for op in BODY_OPERATIONS if "rebuild" not in op[1]]
)
async def test_a_missing_body_names_the_body_not_an_internal_key(
    http: ApiClient, method: str, path: str, body: dict[str, Any]
) -> None:
    response = await http.client.request(method, path, headers=http.auth(role="org:super_admin"))
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "body")
    assert "data" not in error["message"]


async def test_the_rebuild_body_is_optional(http: ApiClient) -> None:
    response = await http.client.post("/api/v1/admin/graph/rebuild", headers=http.auth())
    assert response.status_code == 200


async def test_a_body_over_the_limit_is_413_payload_too_large(http: ApiClient) -> None:
    response = await http.client.post(
        "/api/v1/admin/providers",
        content=b'{"provider": {"name": "' + b"x" * 2_000_000 + b'"}}',
        headers={**http.auth(), "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert codes(response) == ["PAYLOAD_TOO_LARGE"]


def injected_names() -> Iterator[str]:
    """Names a handler receives that are not query parameters: dependencies, reserved."""
    yield from ("principal", "request", "list_tenants", "query_audit_log", "data", "self")


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize("name", list(injected_names()))
async def test_an_injected_argument_is_not_a_query_parameter(
    http: ApiClient, path: str, name: str
) -> None:
    response = await http.client.get(path, params={name: "x"}, headers=http.auth())
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["field"], error["message"]) == (name, "unknown query parameter")


@pytest.mark.parametrize(
    "query",
    [
        {"offset": str(2**64)},
        {"offset": "9" * 40},
        {"limit": str(2**63)},
        {"offset": "-1"},
    ],
)
async def test_integers_beyond_the_bounds_are_422(http: ApiClient, query: dict[str, str]) -> None:
    response = await http.client.get(TENANTS, params=query, headers=http.auth())
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == next(iter(query))


@pytest.mark.parametrize(
    "query",
    [
        {"to_date": "9999-12-31T23:59:59-05:00"},
        {"from_date": "0001-01-01T00:00:00+05:00"},
        {"from_date": "0001-01-01T00:00:00+05:00", "to_date": "9999-12-31T23:59:59-05:00"},
    ],
)
async def test_dates_past_the_calendar_once_in_utc_bound_nothing_on_that_side(
    http: ApiClient, query: dict[str, str]
) -> None:
    everything = await http.client.get(AUDIT, params={"limit": 500}, headers=http.auth())
    response = await http.client.get(AUDIT, params={**query, "limit": 500}, headers=http.auth())
    assert response.status_code == 200
    assert response.json()["data"]["entries"] == everything.json()["data"]["entries"]


@pytest.mark.parametrize(
    "value",
    [
        "\x00",
        "a\x00b",
        "\x1b[31m",
        "line\nbreak",
        "Apollo\u202e(ih",  # a right-to-left override: reads as another name
        "Apollo\u200b Chennai",  # a zero-width space
        "one\u2028two",  # a line separator
    ],
)
async def test_control_characters_are_never_stored(http: ApiClient, value: str) -> None:
    before = state(http)
    responses = [
        await http.client.post(
            "/api/v1/admin/providers", json={"provider": {"name": value}}, headers=http.auth()
        ),
        await http.client.post(
            "/api/v1/admin/providers",
            json={"provider": {"name": "Fine", "city": value}},
            headers=http.auth(),
        ),
        await http.client.patch(
            f"{TENANTS}/apollo-chennai", json={"name": value}, headers=http.auth()
        ),
        await http.client.get(AUDIT, params={"actor_id": value}, headers=http.auth()),
        await http.client.get(f"{TENANTS}/a%00b/users", headers=http.auth()),
    ]
    assert [r.status_code for r in responses] == [422] * len(responses)
    assert state(http) == before


@pytest.mark.parametrize("size", [20_000, 200_000])
async def test_a_very_large_authorization_header_is_answered_in_the_envelope(
    http: ApiClient, size: int
) -> None:
    response = await http.client.get(TENANTS, headers={"Authorization": "Bearer " + "a" * size})
    assert response.status_code == 401
    assert codes(response) == ["AUTH_TOKEN_INVALID"]


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("ADMIN_MODE", "ADMIN_NEO4J_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ADMIN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}")
    monkeypatch.setenv("ADMIN_LOCAL_KEY_PATH", str(tmp_path / "keys" / "signing.pem"))
    assert main(["db", "upgrade"]) == 0
    assert main(["demo", "seed"]) == 0
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["tenants", "list", "--offset", str(2**64)], "offset"),
        (["tenants", "list", "--limit", "9" * 40], "limit"),
        (["audit", "query", "--limit", str(2**70)], "limit"),
        (["token", "--ttl", str(2**64)], "ttl"),
        (["token", "--role", "org:nonsense"], "role"),
        (["token", "--role", "org:admin", "--org", "not an org"], "org"),
        (["token", "--user", "bad user\x01"], "user"),
        # An id of a form the API refuses is a 422 there: here too, not a "not found".
        (["sessions", "refund", "a.b", "--reason", "r"], "session_id"),
        (["sessions", "list", "--tenant-id", "A.B"], "tenant_id"),
        (["tenants", "update", "A.B", "--name", "x"], "tenant_id"),
        (["tenants", "list", "--tenant-id", "A.B"], "tenant_id"),
        (["users", "list", "A.B"], "tenant_id"),
        (["users", "grant", "apollo-chennai", "not a user", "org:admin"], "user_id"),
        (["flags", "effective", "A.B"], "tenant_id"),
        (["triage", "show", "A.B"], "tenant_id"),
        (["matching", "weights", "A.B"], "tenant_id"),
        (["audit", "verify", "--tenant-id", "A.B"], "tenant_id"),
        (["audit", "query", "--tenant-id", "A.B"], "tenant_id"),
        (["doctors", "list", "--tenant-id", "A.B"], "tenant_id"),
    ],
)
def test_the_cli_answers_bad_values_like_the_api(
    embedded: Path, capsys: pytest.CaptureFixture[str], argv: list[str], field: str
) -> None:
    capsys.readouterr()
    assert main(["--json", *argv]) == 2
    output = capsys.readouterr()
    assert output.out == ""  # no token, no table
    errors = json.loads(output.err)["errors"]
    assert (errors[0]["code"], errors[0]["field"]) == ("VALIDATION_ERROR", field)


def test_the_cli_takes_dates_past_the_calendar_like_the_api(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["--json", "audit", "query", "--limit", "500"]) == 0
    everything = json.loads(capsys.readouterr().out)
    argv = ["--json", "audit", "query", "--limit", "500", "--to-date", "9999-12-31T23:59:59-05:00"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == everything


def test_the_server_itself_hands_a_large_authorization_header_to_the_app(tmp_path: Path) -> None:
    """uvicorn answers a request whose headers exceed its limit with a plain-text 400 of its
    own; `adminctl serve` raises that limit so the app answers in the envelope."""
    embedded = {
        "ADMIN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}",
        "ADMIN_LOCAL_KEY_PATH": str(tmp_path / "signing.pem"),
    }
    with serving(embedded, tmp_path, args=["--no-seed"]) as server:
        response = httpx.get(
            f"{server.url}/api/v1/admin/tenants",
            headers={"Authorization": "Bearer " + "a" * 100_000},
        )
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "AUTH_TOKEN_INVALID"


@pytest.mark.parametrize(
    ("change", "field"),
    [({"active": 0}, "active"), ({"consultation_fee_minor": "100"}, "consultation_fee_minor")],
)
async def test_a_body_value_of_another_json_type_is_refused_not_converted(
    http: ApiClient, change: dict[str, Any], field: str
) -> None:
    """`0` is not `false` and `"100"` is not `100`: the framework would convert them."""
    _, path, body = next(
        op for op in BODY_OPERATIONS if op[:2] == ("POST", "/api/v1/admin/mso/doctors")
    )
    before = state(http)
    response = await http.client.post(path, json={**body, **change}, headers=http.auth())
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", field)
    assert state(http) == before


def body_schema(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    """The object schema of the body of `method path` (a concrete path) in the document."""
    for template, item in document["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path) and method.lower() in item:
            schema = item[method.lower()]["requestBody"]["content"]["application/json"]["schema"]
            [ref] = [s["$ref"] for s in schema.get("oneOf", [schema]) if "$ref" in s]
            found: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
            return found
    raise AssertionError(f"{method} {path} is not in the document")


def error_fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    assert set(codes(response)) == {"VALIDATION_ERROR"}
    return [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize(("method", "path", "body"), BODY_OPERATIONS)
async def test_every_unknown_and_missing_field_of_a_body_is_named(
    http: ApiClient, method: str, path: str, body: dict[str, Any]
) -> None:
    """One error per offending field (SPEC §4), not just the first the decoder met: an empty
    object with two unknown fields names both, and every field the document marks required."""
    document = (await http.client.get("/api/v1/admin/schema/openapi.json")).json()
    required = body_schema(document, method, path).get("required", [])
    before = state(http)
    response = await http.client.request(
        method, path, json={"unknown_one": 1, "unknown_two": 2}, headers=http.auth()
    )
    assert sorted(error_fields(response)) == sorted(["unknown_one", "unknown_two", *required])
    assert state(http) == before


async def test_every_field_of_a_body_with_a_wrong_value_is_named(http: ApiClient) -> None:
    _, path, body = next(
        op for op in BODY_OPERATIONS if op[:2] == ("POST", "/api/v1/admin/mso/doctors")
    )
    before = state(http)
    wrong = {**body, "full_name": "", "email": "x", "languages": ["en", 7], "active": 0}
    response = await http.client.post(path, json=wrong, headers=http.auth())
    assert error_fields(response) == ["full_name", "email", "languages.1", "active"]
    assert state(http) == before


async def test_the_fields_of_an_object_in_a_body_are_named_by_their_path(
    http: ApiClient,
) -> None:
    response = await http.client.post(
        "/api/v1/admin/providers",
        json={"provider": {"name": 5, "extra": True}, "tenant": 1},
        headers=http.auth(),
    )
    assert sorted(error_fields(response)) == ["provider.extra", "provider.name", "tenant"]


@pytest.mark.parametrize(("method", "path", "body"), BODY_OPERATIONS)
async def test_a_body_that_is_not_utf8_is_400(
    http: ApiClient, method: str, path: str, body: dict[str, Any]
) -> None:
    """JSON is UTF-8: a Latin-1 `é` in a string, or a lone surrogate's bytes, is not JSON."""
    before = state(http)
    for bad in ("caf\xe9".encode("latin-1"), b"\xed\xa0\x80"):
        content = json.dumps({**body, "reason": "x"}).encode().replace(b'"x"', b'"' + bad + b'"')
        response = await http.client.request(
            method,
            path,
            content=content,
            headers={**http.auth(), "Content-Type": "application/json"},
        )
        assert response.status_code == 400, (bad, response.text)
        assert codes(response) == ["BAD_REQUEST"]
    assert state(http) == before


async def test_every_required_query_parameter_missing_is_named(http: ApiClient) -> None:
    """Every operation, without its required query parameters: a 422 naming each of them."""
    document = (await http.client.get("/api/v1/admin/schema/openapi.json")).json()
    answers, expected = {}, {}
    for template, item in document["paths"].items():
        for method, operation in item.items():
            required = sorted(
                p["name"]
                for p in operation.get("parameters", [])
                if p["in"] == "query" and p.get("required")
            )
            if not required:
                continue
            path = re.sub(r"\{[^}]+\}", "x", template)
            response = await http.client.request(method, path, headers=http.auth())
            call = f"{method.upper()} {template}"
            answers[call] = (response.status_code, error_fields(response))
            expected[call] = (422, required)
    assert len(expected) >= 4  # flags (read, clear), triage, matching weights
    assert answers == expected


LISTS_BY_TENANT = [
    ("/api/v1/admin/mso/sessions", {"from_date": "2000-01-01", "to_date": "2000-01-02"}),
    ("/api/v1/admin/mso/doctors", {"available_from": "1900-01-01"}),
    (AUDIT, {"action": "nothing.such."}),
]


@pytest.mark.parametrize(("path", "emptying"), LISTS_BY_TENANT)
async def test_a_list_filtered_by_a_tenant_that_does_not_exist_is_404(
    http: ApiClient, path: str, emptying: dict[str, str]
) -> None:
    """SPEC §4: TENANT_NOT_FOUND when `tenant_id` does not exist — not an empty page. A
    tenant that exists but has nothing matching is an empty page."""
    unknown = await http.client.get(
        path, params={"tenant_id": "no-such-tenant"}, headers=http.auth()
    )
    assert unknown.status_code == 404, unknown.text
    assert codes(unknown) == ["TENANT_NOT_FOUND"]
    empty = await http.client.get(
        path, params={"tenant_id": "apollo-chennai", **emptying}, headers=http.auth()
    )
    assert empty.status_code == 200, empty.text
    [rows] = [v for v in empty.json()["data"].values() if isinstance(v, list)]
    assert rows == []


#: Every operation that names a tenant other than the tenant list's own filter (an empty
#: page, ADR 0043) and the users routes (where `platform` names the platform organisation),
#: as (method, path, query, body) with `{t}` for the tenant.
NAMING_A_TENANT: list[tuple[str, str, dict[str, str], dict[str, Any] | None]] = [
    ("GET", "/api/v1/admin/flags/effective", {"tenant_id": "{t}"}, None),
    *[
        (method, path, {}, {**body, "tenant_id": "{t}"})
        for method, path, body in BODY_OPERATIONS
        if "tenant_id" in body
    ],
    (
        "DELETE",
        "/api/v1/admin/flags/identity-override",
        {"tenant_id": "{t}", "flag": "enable_mso_booking"},
        None,
    ),
    ("GET", "/api/v1/admin/matching/domain-weights", {"tenant_id": "{t}"}, None),
    ("GET", "/api/v1/admin/triage/thresholds", {"tenant_id": "{t}"}, None),
    *[(m, p, {"tenant_id": "{t}", **q}, None) for p, q in LISTS_BY_TENANT for m in ["GET"]],
    ("GET", f"{AUDIT}/verify", {"tenant_id": "{t}"}, None),
    ("PATCH", f"{TENANTS}/{{t}}", {}, {"name": "Renamed"}),
    ("PUT", f"{TENANTS}/{{t}}/org-mapping", {}, {"clerk_org_id": "org_new"}),
]


def _naming(tenant: str, value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("{t}", tenant)
    if isinstance(value, dict):
        return {k: _naming(tenant, v) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("method", "path", "query", "body"), NAMING_A_TENANT)
async def test_the_reserved_tenant_id_is_a_tenant_that_does_not_exist(
    http: ApiClient,
    method: str,
    path: str,
    query: dict[str, str],
    body: dict[str, Any] | None,
) -> None:
    """`platform` is reserved: no tenant can be created with it, so naming it is naming a
    tenant that does not exist (404 TENANT_NOT_FOUND), the same answer as for any other."""
    answers = {}
    for tenant in ("platform", "no-such-tenant"):
        response = await http.client.request(
            method,
            _naming(tenant, path),
            params=_naming(tenant, query),
            json=_naming(tenant, body),
            headers=http.auth("org:super_admin"),
        )
        answers[tenant] = (response.status_code, codes(response))
    assert answers["platform"] == answers["no-such-tenant"] == (404, ["TENANT_NOT_FOUND"])


@pytest.mark.parametrize(
    ("method", "path", "query", "body"),
    [
        *NAMING_A_TENANT,
        ("GET", TENANTS, {"tenant_id": "{t}"}, None),
        ("GET", f"{TENANTS}/{{t}}/users", {}, None),
    ],
)
async def test_a_tenant_id_of_the_wrong_form_is_422_wherever_a_tenant_is_named(
    http: ApiClient,
    method: str,
    path: str,
    query: dict[str, str],
    body: dict[str, Any] | None,
) -> None:
    """As in the CLI (`test_the_cli_answers_bad_values_like_the_api`): an id no tenant can
    have is bad input, not a tenant that was looked up and not found."""
    response = await http.client.request(
        method,
        _naming("A.B", path),
        params=_naming("A.B", query),
        json=_naming("A.B", body),
        headers=http.auth("org:super_admin"),
    )
    assert response.status_code == 422, response.text
    assert [(e["code"], e.get("field")) for e in response.json()["errors"]] == [
        ("VALIDATION_ERROR", "tenant_id")
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["flags", "effective", "{t}"],
        ["flags", "override", "{t}", "enable_mso_booking", "false", "--reason", "r"],
        ["flags", "clear", "{t}", "enable_mso_booking"],
        ["triage", "show", "{t}"],
        ["triage", "set", "{t}", "mso_max_offers_per_case=4", "--reason", "r"],
        ["matching", "weights", "{t}"],
        ["sessions", "list", "--tenant-id", "{t}"],
        ["doctors", "list", "--tenant-id", "{t}"],
        [
            "doctors",
            "onboard",
            "--tenant-id",
            "{t}",
            "--full-name",
            "Dr. X",
            "--email",
            "x@apollo.example",
            "--specialty",
            "cardiology",
            "--language",
            "en",
            "--country",
            "IN",
            "--license-number",
            "L-1",
            "--consultation-fee-minor",
            "100",
            "--currency",
            "INR",
            "--available-from",
            "2026-01-01",
            "--timezone",
            "Asia/Kolkata",
        ],
        ["audit", "query", "--tenant-id", "{t}"],
        ["audit", "verify", "--tenant-id", "{t}"],
        ["tenants", "update", "{t}", "--name", "Renamed"],
        ["tenants", "map-org", "{t}", "org_new"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_the_cli_answers_the_reserved_tenant_id_as_a_tenant_that_does_not_exist(
    embedded: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    answers = {}
    for tenant in ("platform", "no-such-tenant"):
        capsys.readouterr()
        status = main(["--json", *(_naming(tenant, word) for word in argv)])
        errors = json.loads(capsys.readouterr().err)["errors"]
        answers[tenant] = (status, [e["code"] for e in errors])
    assert answers["platform"] == answers["no-such-tenant"] == (4, ["TENANT_NOT_FOUND"])


@pytest.mark.parametrize("path", ["/admin/triage", "/health", "/ready"])
async def test_a_page_or_a_probe_ignores_query_parameters(http: ApiClient, path: str) -> None:
    """A link to the page may carry anything (`?utm_source=mail`); only the API's own
    operations refuse a parameter they do not declare."""
    plain = await http.client.get(path)
    tagged = await http.client.get(path, params={"utm_source": "mail", "tenant": "x"})
    assert (tagged.status_code, tagged.headers["content-type"]) == (
        plain.status_code,
        plain.headers["content-type"],
    )
    assert plain.status_code == 200


NOT_JSON = [b"0Sq[Q9U\x05", b"[1, 2] x", b'"text" more', b'{"unknown_one": 1} trailing', b"true}"]


@pytest.mark.parametrize(("method", "path", "body"), BODY_OPERATIONS)
async def test_a_body_that_starts_like_json_but_is_not_is_400(
    http: ApiClient, method: str, path: str, body: dict[str, Any]
) -> None:
    """A typed decoder may stop at the first value's type before it meets what makes the body
    no JSON at all: still a 400, never a 500 (schemathesis found `0Sq[Q9U\\x05`)."""
    before = state(http)
    for content in NOT_JSON:
        response = await http.client.request(
            method,
            path,
            content=content,
            headers={**http.auth(), "Content-Type": "application/json"},
        )
        assert (response.status_code, codes(response)) == (400, ["BAD_REQUEST"]), content
    assert state(http) == before


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.one_of(st.binary(max_size=64), st.text(max_size=64).map(str.encode)))
async def test_any_bytes_as_a_json_body_get_an_error_in_the_envelope_never_a_500(
    http: ApiClient, content: bytes
) -> None:
    response = await http.client.post(
        "/api/v1/admin/flags/identity-override",
        content=content,
        headers={**http.auth(), "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422), (content, response.text)
    assert response.json()["success"] is False


@pytest.mark.parametrize("path", ["/api/v1/admin/mso/sessions", AUDIT])
async def test_a_date_range_that_ends_before_it_starts_is_422_on_every_list(
    http: ApiClient, path: str
) -> None:
    response = await http.client.get(
        path, params={"from_date": "2026-03-10", "to_date": "2026-01-01"}, headers=http.auth()
    )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["to_date"]


LISTS_WITH_BAD_QUERIES = [
    ("/api/v1/admin/mso/sessions", {"status": "nope", "to_date": "soon", "limit": "0"}),
    ("/api/v1/admin/mso/doctors", {"language": "zz", "available_from": "soon", "offset": "-1"}),
    (TENANTS, {"limit": "0", "offset": "-1"}),
    (AUDIT, {"action": "a b", "from_date": "soon", "limit": "0"}),
]


@pytest.mark.parametrize(("path", "query"), LISTS_WITH_BAD_QUERIES)
async def test_every_bad_query_parameter_of_a_list_is_named_at_once(
    http: ApiClient, path: str, query: dict[str, str]
) -> None:
    response = await http.client.get(path, params=query, headers=http.auth())
    assert response.status_code == 422, response.text
    assert {e["field"] for e in response.json()["errors"]} == set(query)


def _with_line_breaks(value: Any) -> Any:
    """`value` with every string in it broken over two lines."""
    if isinstance(value, str):
        return f"{value}\nmore"
    if isinstance(value, dict):
        return {k: _with_line_breaks(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_line_breaks(v) for v in value]
    return value


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [op for op in BODY_OPERATIONS if _with_line_breaks(op[2]) != op[2]],  # bodies with text
)
async def test_a_value_of_the_wrong_form_is_explained_in_words_not_a_regex(
    http: ApiClient, method: str, path: str, body: dict[str, Any]
) -> None:
    """ADR 0043: pattern mismatches are reported in words (a reason typed over two lines)."""
    response = await http.client.request(
        method, path, json=_with_line_breaks(body), headers=http.auth()
    )
    assert response.status_code == 422, response.text
    for error in response.json()["errors"]:
        assert "regex" not in error["message"], error
        assert "\\x" not in error["message"], error


@pytest.mark.parametrize(
    ("method", "path", "request_", "field", "message"),
    [
        (
            "PUT",
            "/api/v1/admin/triage/thresholds",
            {
                "json": {
                    "tenant_id": "apollo-chennai",
                    "values": {"mso_pfs_skip_threshold": 61},
                    "reason": "r" * 501,
                }
            },
            "reason",
            "must be at most 500 characters",
        ),
        ("PATCH", f"{TENANTS}/apollo-chennai", {"json": {"name": ""}}, "name", "must not be empty"),
        ("GET", TENANTS, {"params": {"limit": "0"}}, "limit", "must be at least 1"),
        ("GET", TENANTS, {"params": {"limit": "201"}}, "limit", "must be at most 200"),
    ],
    ids=["text too long", "text empty", "number too small", "number too large"],
)
async def test_a_length_or_a_bound_is_explained_in_words(
    http: ApiClient, method: str, path: str, request_: dict[str, Any], field: str, message: str
) -> None:
    """What the operator reads next to the field, not the decoder's "Expected `str` of
    length <= 500"."""
    response = await http.client.request(method, path, headers=http.auth(), **request_)
    assert response.status_code == 422, response.text
    assert [(e["field"], e["message"]) for e in response.json()["errors"]] == [(field, message)]


@pytest.mark.parametrize("path", [TENANTS, f"{TENANTS}/no-such-tenant", "/api/v1/admin/nowhere"])
async def test_no_answer_of_the_api_may_be_kept_by_a_cache_or_framed(
    http: ApiClient, path: str
) -> None:
    response = await http.client.get(path, headers=http.auth())
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


#: Query strings that are not UTF-8: as sent, or once percent-decoded, in a name or a value.
NOT_UTF8_QUERIES = [b"status=\xff\xfe", b"limit=1&\xc3", b"tenant_id=%ff", b"%c3=1"]


@pytest.mark.parametrize("query", NOT_UTF8_QUERIES)
async def test_a_query_string_that_is_not_utf8_is_400_on_every_operation(
    http: ApiClient, query: bytes
) -> None:
    """Every method of every API route, and a path that is no route: the error envelope,
    never a 500 (a value that failed validation once broke the error handler itself)."""
    answers = {}
    paths = ["/api/v1/admin/no-such-route"]
    for route in http.client.app.routes:
        if isinstance(route, HTTPRoute) and route.path_format.startswith("/api/"):
            paths += [f"{m} {re.sub(r'{[^}]+}', 'x', route.path_format)}" for m in route.methods]
    before = state(http)
    for call in paths:
        method, _, path = call.rpartition(" ")
        answer = await raw_call(
            http.client.app, method or "GET", path, list(http.auth().items()), query=query
        )
        body = json.loads(answer.body)
        answers[call] = (answer.status, tuple(e["code"] for e in body["errors"]))
    assert {call: a for call, a in answers.items() if a[0] >= 500} == {}
    refused = {a for call, a in answers.items() if call.startswith("GET ")}
    assert refused == {(400, ("BAD_REQUEST",))}, answers
    assert state(http) == before


# --------------------------------------------------------------------------- names given twice


def _first_name_twice(body: dict[str, Any]) -> bytes:
    """`body` with its first name given once more, with the same value, before the rest."""
    name = next(iter(body))
    return (
        b"{" + json.dumps({name: body[name]}).encode()[1:-1] + b", " + json.dumps(body)[1:].encode()
    )


@pytest.mark.parametrize(("method", "path", "body"), BODY_OPERATIONS)
async def test_a_name_given_twice_in_a_body_is_400_naming_it_and_changes_nothing(
    http: ApiClient, method: str, path: str, body: dict[str, Any]
) -> None:
    """Which of two values counts is not the server's guess to make, even for equal values."""
    before = state(http)
    response = await http.client.request(
        method,
        path,
        content=_first_name_twice(body),
        headers={**http.auth(role="org:super_admin"), "content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert codes(response) == ["BAD_REQUEST"]
    assert response.json()["errors"][0]["field"] == next(iter(body))
    assert state(http) == before


async def test_a_name_given_twice_inside_an_object_of_a_body_is_named_by_its_path(
    http: ApiClient,
) -> None:
    triage = await http.client.get(
        "/api/v1/admin/triage/thresholds?tenant_id=apollo-chennai", headers=http.auth()
    )
    content = (
        b'{"tenant_id": "apollo-chennai", "reason": "r", "values": '
        b'{"mso_max_offers_per_case": 4, "mso_max_offers_per_case": 5}}'
    )
    response = await http.client.put(
        "/api/v1/admin/triage/thresholds",
        content=content,
        headers={**http.auth(), "content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "values.mso_max_offers_per_case"
    after = await http.client.get(
        "/api/v1/admin/triage/thresholds?tenant_id=apollo-chennai", headers=http.auth()
    )
    assert after.json()["data"] == triage.json()["data"]


def test_the_cli_refuses_a_flag_value_giving_a_name_twice(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["flags", "override", "apollo-chennai", "matching_domain_weights"]
    capsys.readouterr()
    value = '{"clinical_context": 0.5, "clinical_context": 1}'
    assert main(["--json", *argv, value, "--reason", "r"]) == 2
    errors = json.loads(capsys.readouterr().err)["errors"]
    assert (errors[0]["code"], errors[0]["field"]) == ("BAD_REQUEST", "clinical_context")


# --------------------------------------------------------------------------- content codings


@pytest.mark.parametrize(("method", "path", "body"), BODY_OPERATIONS)
async def test_a_body_under_a_content_coding_is_415_and_changes_nothing(
    http: ApiClient, method: str, path: str, body: dict[str, Any]
) -> None:
    """A compressed body is not read as if it were plain, nor plain bytes labelled `br` as
    if the label meant nothing."""
    before = state(http)
    plain = json.dumps(body).encode()
    for coding, content in (("gzip", gzip.compress(plain)), ("br", plain), ("identity, br", plain)):
        response = await http.client.request(
            method,
            path,
            content=content,
            headers={
                **http.auth(role="org:super_admin"),
                "content-type": "application/json",
                "content-encoding": coding,
            },
        )
        assert response.status_code == 415, (coding, response.text)
        assert codes(response) == ["UNSUPPORTED_MEDIA_TYPE"]
        assert response.headers["accept-encoding"] == "identity"
    assert state(http) == before


async def test_a_body_declared_identity_is_read_as_it_is(http: ApiClient) -> None:
    response = await http.client.patch(
        f"{TENANTS}/apollo-chennai",
        content=b'{"name": "Apollo"}',
        headers={**http.auth(), "content-type": "application/json", "content-encoding": "identity"},
    )
    assert response.status_code == 200, response.text
