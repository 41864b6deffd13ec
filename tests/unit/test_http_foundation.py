"""The HTTP conventions of SPEC §4–5 on the one foundation endpoint, through the real app."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.http import ApiClient, api, raw_call

TENANTS = "/api/v1/admin/tenants"


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[ApiClient]:
    async with api(tmp_path) as client:
        yield client


def codes(body: dict[str, object]) -> list[str]:
    return [e["code"] for e in body["errors"]]  # type: ignore[index, union-attr]


async def test_success_envelope_carries_data_and_pagination(http: ApiClient) -> None:
    response = await http.client.get(TENANTS, params={"limit": 2}, headers=http.auth())
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert [t["id"] for t in body["data"]["tenants"]] == ["apollo-chennai", "bumrungrad-bangkok"]
    assert body["data"]["total"] == 4
    assert body["meta"]["total"] == 4
    assert body["meta"]["limit"] == 2
    assert body["meta"]["request_id"] == response.headers["x-request-id"]


async def test_missing_header_is_401_auth_header_missing(http: ApiClient) -> None:
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}):
        response = await http.client.get(TENANTS, headers=headers)
        assert response.status_code == 401
        body = response.json()
        assert body["success"] is False
        assert body["data"] is None
        assert codes(body) == ["AUTH_HEADER_MISSING"]


async def test_garbage_token_is_401_invalid(http: ApiClient) -> None:
    response = await http.client.get(TENANTS, headers={"Authorization": "Bearer not.a.jwt"})
    assert (response.status_code, codes(response.json())) == (401, ["AUTH_TOKEN_INVALID"])


async def raw_request(
    http: ApiClient, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b""
) -> tuple[int, dict[str, Any], bool]:
    """A request with its header lines as listed, a name given twice as two lines, handed
    to the app as a server hands it (the test client joins such lines into one). The
    answer's status and body, and whether the app asked for the request's body (a server
    sends `100 Continue` to a client that waits for it then)."""
    answer = await raw_call(http.client.app, method, path, [("host", "test"), *headers], body=body)
    return answer.status, json.loads(answer.body), answer.body_read


async def tenant_names(http: ApiClient) -> set[str]:
    listed = await http.client.get(TENANTS, headers=http.auth())
    return {t["name"] for t in listed.json()["data"]["tenants"]}


@pytest.mark.parametrize("second", ["same", "Bearer not.a.jwt", "Basic YTpi"])
async def test_two_authorization_headers_are_401_invalid(http: ApiClient, second: str) -> None:
    """Authorization is given once (RFC 9110 §11.6.2): with two, which one counts would rest
    on the reader, a proxy's or ours. The change asked is not made."""
    token = http.auth()["Authorization"]
    status, body, _ = await raw_request(
        http,
        "PATCH",
        f"{TENANTS}/apollo-chennai",
        [
            ("Authorization", token),
            ("Authorization", token if second == "same" else second),
            ("Content-Type", "application/json"),
        ],
        b'{"name": "Renamed"}',
    )
    assert (status, codes(body)) == (401, ["AUTH_TOKEN_INVALID"])
    assert "Renamed" not in await tenant_names(http)


@pytest.mark.parametrize("second", ["application/json", "text/plain"])
async def test_two_content_types_are_415(http: ApiClient, second: str) -> None:
    """A body has one media type (RFC 9110 §8.3): a request labelling it twice is refused, as
    a body that is not JSON is, whichever label comes first. Nothing changes."""
    status, body, _ = await raw_request(
        http,
        "PATCH",
        f"{TENANTS}/apollo-chennai",
        [
            *http.auth().items(),
            ("Content-Type", "application/json"),
            ("Content-Type", second),
        ],
        b'{"name": "Renamed"}',
    )
    assert (status, codes(body)) == (415, ["UNSUPPORTED_MEDIA_TYPE"])
    assert "Renamed" not in await tenant_names(http)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ([("Content-Type", "text/plain")], "UNSUPPORTED_MEDIA_TYPE"),
        (
            [("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            [("Content-Type", "application/json"), ("Content-Type", "application/json")],
            "UNSUPPORTED_MEDIA_TYPE",
        ),
    ],
)
async def test_a_body_of_a_refused_type_is_refused_before_it_is_sent(
    http: ApiClient, headers: list[tuple[str, str]], code: str
) -> None:
    """A client sending `Expect: 100-continue` waits for the server before it uploads the
    body: a body its headers already say is refused gets the refusal, not a `100 Continue`
    and then the refusal (RFC 9110 §10.1.1)."""
    status, body, read = await raw_request(
        http,
        "PATCH",
        f"{TENANTS}/apollo-chennai",
        [*http.auth().items(), *headers, ("Content-Length", "19"), ("Expect", "100-continue")],
        b'{"name": "Renamed"}',
    )
    assert (status, codes(body)) == (415, [code])
    assert not read
    assert "Renamed" not in await tenant_names(http)


async def test_expired_token_is_401_expired(http: ApiClient) -> None:
    token = http.token(ttl_seconds=-60)
    response = await http.client.get(TENANTS, headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, codes(response.json())) == (401, ["AUTH_TOKEN_EXPIRED"])


async def test_pending_session_is_401(http: ApiClient) -> None:
    token = http.token(extra={"sts": "pending"})
    response = await http.client.get(TENANTS, headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, codes(response.json())) == (401, ["AUTH_TOKEN_INVALID"])


async def test_v1_claims_work_through_the_api(http: ApiClient) -> None:
    """A token in Clerk's v1 claim format (`org_id`, `org_role`) is read like a v2 one: its
    organisation decides the tenants seen, its role the permissions, its subject the actor."""
    platform = await http.client.get(TENANTS, headers=http.auth(claims_version=1))
    assert platform.status_code == 200
    assert [t["id"] for t in platform.json()["data"]["tenants"]] == [
        "apollo-chennai",
        "bumrungrad-bangkok",
        "acibadem-istanbul",
        "medanta-gurugram",
    ]

    scoped = http.auth("org:admin", "org_apollo_chennai", user="user_v1", claims_version=1)
    own = await http.client.get(TENANTS, headers=scoped)
    assert [t["id"] for t in own.json()["data"]["tenants"]] == ["apollo-chennai"]

    staff = http.auth("org:provider:staff", "org_apollo_chennai", claims_version=1)
    refused = await http.client.get(TENANTS, headers=staff)
    assert (refused.status_code, codes(refused.json())) == (403, ["AUTH_INSUFFICIENT_PERMISSION"])

    renamed = await http.client.patch(
        f"{TENANTS}/apollo-chennai", json={"name": "Apollo v1"}, headers=scoped
    )
    assert renamed.status_code == 200
    audit = await http.client.get(
        "/api/v1/admin/audit-log", params={"actor_id": "user_v1"}, headers=scoped
    )
    [entry] = audit.json()["data"]["entries"]
    assert (entry["actor_id"], entry["actor_role"], entry["tenant_id"], entry["action"]) == (
        "user_v1",
        "org:admin",
        "apollo-chennai",
        "tenant.update",
    )


async def test_tenant_scoped_caller_sees_only_its_tenant(http: ApiClient) -> None:
    headers = http.auth("org:admin", "org_apollo_chennai")
    response = await http.client.get(TENANTS, headers=headers)
    assert [t["id"] for t in response.json()["data"]["tenants"]] == ["apollo-chennai"]
    own = await http.client.get(TENANTS, params={"tenant_id": "apollo-chennai"}, headers=headers)
    assert own.status_code == 200


async def test_tenant_scoped_caller_naming_another_tenant_is_403(http: ApiClient) -> None:
    headers = http.auth("org:provider:admin", "org_apollo_chennai")
    response = await http.client.get(
        TENANTS, params={"tenant_id": "acibadem-istanbul"}, headers=headers
    )
    assert (response.status_code, codes(response.json())) == (403, ["AUTH_INSUFFICIENT_PERMISSION"])


@pytest.mark.parametrize(
    ("role", "org"),
    [
        ("org:coordinator", "org_platform"),
        ("org:provider:staff", "org_apollo_chennai"),
        ("org:mso:doctor", "org_apollo_chennai"),
        ("org:facilitator", "org_platform"),
        ("org:admin", "org_nobody_knows"),
        ("org:admin", None),
    ],
)
async def test_roles_without_tenant_manage_get_403(
    http: ApiClient, role: str, org: str | None
) -> None:
    response = await http.client.get(TENANTS, headers=http.auth(role, org))
    assert (response.status_code, codes(response.json())) == (403, ["AUTH_INSUFFICIENT_PERMISSION"])


async def test_bad_query_parameters_give_one_error_per_field(http: ApiClient) -> None:
    response = await http.client.get(
        TENANTS, params={"limit": 0, "offset": -1, "status": "gone"}, headers=http.auth()
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {e["field"] for e in errors} == {"limit", "offset", "status"}
    assert {e["code"] for e in errors} == {"VALIDATION_ERROR"}


@pytest.mark.parametrize(
    ("path", "query", "fields"),
    [
        (
            "/api/v1/admin/mso/sessions",
            {"status": "lost", "from_date": "2026-02-30"},
            {"status", "from_date"},
        ),
        (
            "/api/v1/admin/mso/sessions",
            {"limit": 500, "from_date": "2026-12-20", "to_date": "2026-12-01"},
            {"limit", "to_date"},
        ),
        (
            "/api/v1/admin/audit-log",
            {"limit": 0, "from_date": "2026-02-30"},
            {"limit", "from_date"},
        ),
        (
            "/api/v1/admin/mso/doctors",
            {"offset": -1, "available_from": "2026-02-30"},
            {"offset", "available_from"},
        ),
    ],
)
async def test_a_bad_date_is_named_beside_the_other_bad_parameters(
    http: ApiClient, path: str, query: dict[str, Any], fields: set[str]
) -> None:
    response = await http.client.get(path, params=query, headers=http.auth())
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert {e["field"] for e in errors} == fields
    assert {e["code"] for e in errors} == {"VALIDATION_ERROR"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=abc", "limit"),
        ("limit=201", "limit"),
        ("colour=red", "colour"),
        ("limit=1&limit=2", "limit"),
        ("tenant_id=", "tenant_id"),
    ],
)
async def test_each_bad_parameter_is_named(http: ApiClient, query: str, field: str) -> None:
    response = await http.client.get(f"{TENANTS}?{query}", headers=http.auth())
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (TENANTS, "limit"),
        (TENANTS, "offset"),
        ("/api/v1/admin/mso/sessions", "limit"),
        ("/api/v1/admin/mso/doctors", "offset"),
        ("/api/v1/admin/audit-log", "limit"),
    ],
)
@pytest.mark.parametrize("value", ["1e1", "2E0", "1.0", "10.00", "1E+1", "-0"])
async def test_an_integer_parameter_is_written_in_digits(
    http: ApiClient, path: str, field: str, value: str
) -> None:
    """An integer of the query is decimal digits, as the document's `integer` says: `1e1` is
    not read as 10 nor `1.0` as 1 (a JSON body refuses both too), like `01` or `+1`."""
    response = await http.client.get(f"{path}?{field}={value}", headers=http.auth())
    assert response.status_code == 422, response.text
    assert [(e["code"], e["field"]) for e in response.json()["errors"]] == [
        ("VALIDATION_ERROR", field)
    ]
    plain = await http.client.get(f"{path}?{field}=1", headers=http.auth())
    assert plain.status_code == 200, plain.text


async def test_unknown_route_and_method_use_the_error_envelope(http: ApiClient) -> None:
    missing = await http.client.get("/api/v1/admin/nothing-here", headers=http.auth())
    assert (missing.status_code, codes(missing.json())) == (404, ["NOT_FOUND"])
    assert missing.headers["x-request-id"]
    wrong = await http.client.put(TENANTS, headers=http.auth())
    assert (wrong.status_code, codes(wrong.json())) == (405, ["METHOD_NOT_ALLOWED"])


async def test_request_id_is_echoed_when_sane_and_replaced_when_not(http: ApiClient) -> None:
    sane = await http.client.get("/health", headers={"X-Request-ID": "req-42.a:b"})
    assert sane.headers["x-request-id"] == "req-42.a:b"
    assert sane.json()["meta"]["request_id"] == "req-42.a:b"
    insane = await http.client.get("/health", headers={"X-Request-ID": "x" * 500})
    assert insane.headers["x-request-id"] != "x" * 500
    assert len(insane.headers["x-request-id"]) == 32


async def test_health_and_ready(http: ApiClient) -> None:
    assert (await http.client.get("/health")).json()["data"] == {"status": "ok"}
    assert (await http.client.get("/ready")).json()["data"] == {"status": "ready"}


async def test_admin_openapi_lists_only_admin_routes(http: ApiClient) -> None:
    schema = (await http.client.get("/api/v1/admin/schema/openapi.json")).json()
    assert schema["paths"]
    assert all(path.startswith("/api/v1/admin/") for path in schema["paths"])


async def test_the_embedded_jwks_verifies_the_minted_tokens(http: ApiClient) -> None:
    jwks = (await http.client.get("/.well-known/jwks.json")).json()
    token = http.token()
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, key.key, algorithms=["RS256"], options={"verify_iss": False})
    assert claims["sub"] == "user_test"


query_values = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(["limit", "offset", "status", "tenant_id", "cursor", "x"]),
        query_values,
        max_size=4,
    )
)
async def test_no_query_string_yields_a_500(http: ApiClient, params: dict[str, str]) -> None:
    query = "&".join(f"{quote(k)}={quote(v)}" for k, v in params.items())
    response = await http.client.get(f"{TENANTS}?{query}", headers=http.auth())
    assert response.status_code in {200, 403, 422}
    assert response.json()["success"] is (response.status_code == 200)


@pytest.mark.parametrize(
    "path",
    ["/health", "/ready", "/admin/triage", TENANTS, f"{TENANTS}/apollo-chennai/users"],
)
async def test_head_answers_what_get_would_without_the_body(http: ApiClient, path: str) -> None:
    """A load balancer's or monitor's HEAD gets the GET's status and headers, not a 405."""
    get = await http.client.get(path, headers=http.auth())
    head = await http.client.head(path, headers=http.auth())
    assert (head.status_code, head.content) == (get.status_code, b"")
    ignored = {"x-request-id", "date"}
    assert {k: v for k, v in head.headers.items() if k not in ignored} == {
        k: v for k, v in get.headers.items() if k not in ignored
    }


async def test_head_is_refused_and_authenticated_as_get_is(http: ApiClient) -> None:
    unauthenticated = await http.client.head(TENANTS)
    assert unauthenticated.status_code == 401
    post_only = await http.client.head("/api/v1/admin/graph/rebuild", headers=http.auth())
    assert post_only.status_code == 405
    assert post_only.headers["allow"] == "OPTIONS, POST"


async def test_allow_lists_head_beside_get(http: ApiClient) -> None:
    options = await http.client.options(TENANTS)
    assert options.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    wrong = await http.client.put("/health")
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET, HEAD, OPTIONS")
