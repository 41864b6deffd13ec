"""Every operation of the admin OpenAPI document against every kind of caller, with the
tenant it acts on named in the path, the query or the body as the operation takes it.

The operations come from the document the app publishes, so a new route cannot be left
out: it fails here until `GUARDS` says what SPEC §5 asks of it. What each caller gets is
written from SPEC §4-§5 (and ADR 0060 for a resource named by id), not from `RolePolicy`:
401 with the token's code, 403 AUTH_INSUFFICIENT_PERMISSION for a permission that does not
reach, 404 TENANT_NOT_FOUND only for callers who may see every tenant. A refused call
changes nothing: no row, no audit entry, no flag, no membership, no graph node. The use
cases alone refuse the same callers, for a service that embeds the core.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from litestar import Litestar, Request
from litestar.di import Provide
from litestar.testing import AsyncTestClient

from admin_core.auth.policy import ROLES
from entrypoints.http.app import ADMIN_CONTROLLERS
from entrypoints.http.envelope import ensure_request_id
from entrypoints.http.errors import handle_exception
from entrypoints.http.security import PRINCIPAL_KEY, REQUIRES, bearer_token, current_principal
from tests.support.doctors import doctor_body
from tests.support.http import PLATFORM_ORG, ApiClient, api

ADMIN = "/api/v1/admin"
OWN, OWN_ORG = "apollo-chennai", "org_apollo_chennai"
OTHER, OTHER_ORG = "bumrungrad-bangkok", "org_bumrungrad"
UNKNOWN = "no-such-tenant"
UNMAPPED_ORG = "org_nobody"
ORG_OF = {OWN: OWN_ORG, OTHER: OTHER_ORG, UNKNOWN: "org_no_such_tenant"}
METHODS = ("get", "put", "post", "delete", "patch")

#: Where an operation finds the tenant it acts on: its path, a required query parameter, its
#: JSON body, an optional list filter, the tenant of the doctor or session its path names.
Source = Literal["path", "query", "body", "filter", "doctor", "session"]


@dataclass(frozen=True)
class Guard:
    permission: str
    platform: bool  # SPEC §5: platform scope only
    tenant: Source | None


#: SPEC §5 "Permission per endpoint", for every operation of the admin document.
GUARDS: dict[str, Guard] = {
    "listTenants": Guard("tenant:manage", False, "filter"),
    "createTenant": Guard("tenant:manage", True, "body"),
    "updateTenant": Guard("tenant:manage", False, "path"),
    "mapTenantOrganization": Guard("tenant:manage", True, "path"),
    "createProvider": Guard("tenant:manage", True, None),
    "listTenantUsers": Guard("tenant:manage", False, "path"),
    "grantRole": Guard("tenant:manage", False, "path"),
    "revokeRole": Guard("tenant:manage", False, "path"),
    "rebuildGraph": Guard("graph:rebuild", True, None),
    "graphStatus": Guard("graph:rebuild", True, None),
    "queryAuditLog": Guard("audit:read", False, "filter"),
    "verifyAuditChain": Guard("audit:read", False, "filter"),
    "showEffectiveFlags": Guard("tenant:manage", False, "query"),
    "overrideFlag": Guard("tenant:manage", False, "body"),
    "clearFlagOverride": Guard("tenant:manage", False, "query"),
    "showTriageThresholds": Guard("tenant:manage", False, "query"),
    "updateTriageThresholds": Guard("tenant:manage", False, "body"),
    "showDomainWeights": Guard("tenant:manage", False, "query"),
    "listMatchingParameters": Guard("tenant:manage", True, None),
    "listMsoDoctors": Guard("tenant:manage", False, "filter"),
    "onboardMsoDoctor": Guard("tenant:manage", False, "body"),
    "updateMsoDoctor": Guard("tenant:manage", False, "doctor"),
    "listMsoSessions": Guard("tenant:manage", False, "filter"),
    "refundMsoSession": Guard("tenant:manage", True, "session"),
    "externalDependencyHealth": Guard("tenant:manage", True, None),
}

#: A body each operation that takes one accepts (`{t}`: the tenant acted on).
BODIES: dict[str, dict[str, Any]] = {
    "createTenant": {"provider_id": "prv_unknown", "tenant_id": "{t}"},
    "updateTenant": {"name": "Renamed by the guard test"},
    "mapTenantOrganization": {"clerk_org_id": "{org}"},  # its own: passing changes nothing
    "createProvider": {"provider": {"name": "Guarded Clinic"}},
    "grantRole": {"role": "org:provider:staff"},
    "rebuildGraph": {"scope": "procedures"},
    "overrideFlag": {
        "tenant_id": "{t}",
        "flag": "enable_mso_booking",
        "value": True,
        "reason": "r",
    },
    "updateTriageThresholds": {
        "tenant_id": "{t}",
        "values": {"mso_max_offers_per_case": 3},
        "reason": "r",
    },
    "onboardMsoDoctor": doctor_body("{t}", full_name="Dr. Guard", email="guard@example.org"),
    "updateMsoDoctor": {"specialty": "cardiology"},
    "refundMsoSession": {"reason": "r"},
}
#: Values for the other path and required query parameters.
VALUES = {"user_id": "user_new_hire", "role": "org:provider:staff", "flag": "enable_mso_booking"}

# SPEC §5, row by row: (role, kind of org) → its permissions, and how far they reach.
SPEC_TABLE: dict[tuple[str | None, str], tuple[set[str], str]] = {
    ("org:super_admin", "platform"): ({"*"}, "all"),
    ("org:admin", "platform"): ({"tenant:manage", "graph:rebuild", "audit:read"}, "all"),
    ("org:coordinator", "platform"): ({"audit:read"}, "all"),
    ("org:admin", "tenant"): ({"tenant:manage", "audit:read"}, "own"),
    ("org:provider:admin", "tenant"): ({"tenant:manage", "audit:read"}, "own"),
}


@dataclass(frozen=True)
class Caller:
    name: str
    role: str | None = None
    org: str | None = None
    token: Literal["valid", "none", "malformed", "forged", "expired"] = "valid"
    claims_version: int = 2  # Clerk's session token format

    @property
    def kind(self) -> str:
        return {PLATFORM_ORG: "platform", OWN_ORG: "tenant"}.get(self.org or "", "nothing")

    def reach(self, permission: str) -> str | None:
        """How far `permission` reaches for this caller: "all", "own", or None (nowhere)."""
        grants, reach = SPEC_TABLE.get((self.role, self.kind), (set(), "none"))
        return reach if "*" in grants or permission in grants else None


UNAUTHENTICATED = {
    Caller("no token", token="none"): "AUTH_HEADER_MISSING",
    Caller("malformed token", token="malformed"): "AUTH_TOKEN_INVALID",
    Caller("forged signature", "org:super_admin", PLATFORM_ORG, "forged"): "AUTH_TOKEN_INVALID",
    Caller("expired token", "org:super_admin", PLATFORM_ORG, "expired"): "AUTH_TOKEN_EXPIRED",
}
CALLERS = [
    *(
        Caller(f"{role or 'no role'} of the platform", role, PLATFORM_ORG)
        for role in (*ROLES, None)
    ),
    *(Caller(f"{role or 'no role'} of {OWN}", role, OWN_ORG) for role in (*ROLES, None)),
    *(
        Caller(f"{role or 'no role'} of an unmapped org", role, UNMAPPED_ORG)
        for role in ("org:super_admin", "org:admin", None)
    ),
    *(Caller(f"{role or 'no role'} without an org", role) for role in ("org:admin", None)),
    *(
        Caller(f"{role} of {where} in v1 claims", role, org, claims_version=1)
        for role in ("org:admin", "org:provider:admin", "org:coordinator")
        for where, org in (("the platform", PLATFORM_ORG), (OWN, OWN_ORG))
    ),
]

#: One caller of each kind of answer: no token, every tenant, audit only, its own tenant, none.
SOME_CALLERS = [
    Caller("no token", token="none"),
    Caller("org:super_admin of the platform", "org:super_admin", PLATFORM_ORG),
    Caller("org:coordinator of the platform", "org:coordinator", PLATFORM_ORG),
    Caller(f"org:admin of {OWN}", "org:admin", OWN_ORG),
    Caller(f"org:provider:staff of {OWN}", "org:provider:staff", OWN_ORG),
    Caller("org:admin without an org", "org:admin"),
]


@dataclass(frozen=True)
class Call:
    operation_id: str
    method: str
    template: str
    guard: Guard
    target: str | None  # the tenant acted on; None: no tenant named (or no filter)
    path: str
    params: dict[str, str]
    body: dict[str, Any] | None

    def __str__(self) -> str:
        return f"{self.operation_id}[{self.target}]"


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for template, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), template, item[method]


def fill(value: Any, tenant: str) -> Any:
    if isinstance(value, str):
        return value.format(t=tenant, org=ORG_OF.get(tenant, ""))
    if isinstance(value, dict):
        return {k: fill(v, tenant) for k, v in value.items()}
    return value


def calls(document: dict[str, Any], http: ApiClient) -> Iterator[Call]:
    """Each operation once per tenant it may act on: the caller's own, another, one that
    does not exist; a list also without its tenant filter."""
    store = http.container.database.store()
    doctors = {d.tenant_id: d.id for d in sorted(store.mso_doctors.values(), key=lambda d: d.id)}
    sessions = {
        s.tenant_id: s.id
        for s in sorted(store.mso_sessions.values(), key=lambda s: s.id)
        if s.status.value == "paid"
    }
    for method, template, operation in operations(document):
        guard = GUARDS[operation["operationId"]]
        targets: list[str | None] = [None] if guard.tenant in (None, "filter") else []
        if guard.tenant is not None:
            targets += [OWN, OTHER, UNKNOWN]
        for target in targets:
            tenant = target or OWN
            path = template
            for parameter in operation.get("parameters", []):
                name = parameter["name"]
                if parameter["in"] == "path":
                    value = {
                        "tenant_id": tenant,
                        "doctor_id": doctors.get(tenant, "msd_unknown"),
                        "session_id": sessions.get(tenant, "mso_unknown"),
                    }.get(name) or VALUES[name]
                    path = path.replace(f"{{{name}}}", value)
            params = {
                p["name"]: tenant if p["name"] == "tenant_id" else VALUES[p["name"]]
                for p in operation.get("parameters", [])
                if p["in"] == "query" and (p.get("required") or p["name"] == "tenant_id")
            }
            if target is None:
                params.pop("tenant_id", None)
            body = (
                fill(BODIES[operation["operationId"]], tenant)
                if "requestBody" in operation
                else None
            )
            yield Call(
                operation["operationId"], method, template, guard, target, path, params, body
            )


def expected(caller: Caller, call: Call) -> tuple[int, str] | None:
    """The refusal SPEC §5 gives `caller` for `call` (status, code); None when it passes
    the guard."""
    guard = call.guard
    reach = caller.reach(guard.permission)
    if reach is None or (guard.platform and reach != "all"):
        return 403, "AUTH_INSUFFICIENT_PERMISSION"
    if reach == "all" or call.target in (None, OWN):
        return None
    if guard.tenant == "doctor":  # ADR 0060: not yours reads as no such doctor
        return 404, "MSO_DOCTOR_NOT_FOUND"
    return 403, "AUTH_INSUFFICIENT_PERMISSION"


def headers(http: ApiClient, caller: Caller) -> dict[str, str]:
    if caller.token == "none":
        return {}
    if caller.token == "malformed":
        return {"Authorization": "Bearer not.a.token"}
    token = http.token(
        caller.role,
        caller.org,
        user="user_prober",
        ttl_seconds=-60 if caller.token == "expired" else 3600,
        claims_version=caller.claims_version,
    )
    if caller.token == "forged":
        head, claims, signature = token.split(".")
        raised = json.loads(base64.urlsafe_b64decode(claims + "=="))
        raised["sub"] = "user_platform_owner"
        claims = base64.urlsafe_b64encode(json.dumps(raised).encode()).decode().rstrip("=")
        token = f"{head}.{claims}.{signature}"
    return {"Authorization": f"Bearer {token}"}


async def state(http: ApiClient) -> Any:
    """Everything a call could change in the embedded mode: every table (audit entries,
    intents and sandbox refunds included), the flag overrides, the organisations'
    memberships, the graph."""
    container = http.container
    tables = container.database.store().snapshot()  # a copy of each table
    flags = container.flags.feature_flags()
    overrides = {t: dict(await flags.overrides(t)) for t in (OWN, OTHER, UNKNOWN)}
    identity = container.users.identity()
    members = {
        org: (await identity.list_memberships(org, limit=500)).memberships
        for org in (PLATFORM_ORG, *ORG_OF.values())
    }
    graph = await container.graph.graph().counts()
    return tables, overrides, members, graph


def error(response: Any) -> tuple[int, str | None]:
    if not response.content:
        return response.status_code, None
    errors = response.json().get("errors") or [{}]
    return response.status_code, errors[0].get("code")


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[ApiClient]:
    async with api(tmp_path) as client:
        yield client


async def document_of(http: ApiClient) -> dict[str, Any]:
    document: dict[str, Any] = (await http.client.get(f"{ADMIN}/schema/openapi.json")).json()
    return document


async def test_every_operation_of_the_document_has_its_guard_written_down(http: ApiClient) -> None:
    document = await document_of(http)
    assert {op["operationId"] for _, _, op in operations(document)} == set(GUARDS)
    assert {op["operationId"] for _, _, op in operations(document) if "requestBody" in op} == set(
        BODIES
    )


async def refusals(document: dict[str, Any], http: ApiClient) -> list[str]:
    """Every call of `document` by every caller: what was answered other than SPEC §5 says,
    and what a refused call changed (the state is read again after each call that passed)."""
    wrong: list[str] = []
    before = await state(http)
    for call in calls(document, http):
        callers: list[tuple[Caller, tuple[int, str] | None]] = [
            *((c, (401, code)) for c, code in UNAUTHENTICATED.items()),
            *((c, expected(c, call)) for c in CALLERS),
        ]
        for caller, refusal in callers:
            response = await http.client.request(
                call.method,
                call.path,
                params=call.params,
                json=call.body,
                headers=headers(http, caller),
            )
            answer = error(response)
            if refusal is not None:
                if answer != refusal:
                    wrong.append(f"{call} by {caller.name}: {answer}, not {refusal}")
                if await state(http) != before:
                    wrong.append(f"{call} by {caller.name} was refused but changed something")
                continue
            before = await state(http)
            if answer[0] in (401, 403) or answer[0] >= 500:
                wrong.append(f"{call} by {caller.name}: {answer}, but SPEC §5 lets it through")
            elif call.target == UNKNOWN and call.guard.tenant in (
                "path",
                "query",
                "body",
                "filter",
            ):
                unknown = (
                    (200, None) if call.operation_id == "listTenants" else (404, "TENANT_NOT_FOUND")
                )
                if call.operation_id != "createTenant" and answer != unknown:
                    wrong.append(f"{call} by {caller.name}: {answer}, not {unknown}")
    return wrong


async def authenticate_only(request: Request[Any, Any, Any]) -> None:
    """A `before_request` that verifies the token and hands the caller to the operation, and
    checks nothing else: the permission is left to the use case."""
    if request.route_handler.opt.get(REQUIRES) is None:
        return
    principal = await request.app.state.container.auth.authenticate().execute(
        bearer_token(request), request_id=ensure_request_id(request.scope)
    )
    request.scope.setdefault("state", {})[PRINCIPAL_KEY] = principal


@asynccontextmanager
async def use_cases_alone(http: ApiClient) -> AsyncIterator[ApiClient]:
    """The admin operations on the same container without the HTTP permission check: what
    the use cases refuse on their own, as a service embedding the core meets them."""
    app = Litestar(
        route_handlers=list(ADMIN_CONTROLLERS),
        dependencies={"principal": Provide(current_principal, sync_to_thread=False)},
        exception_handlers={Exception: handle_exception},
        before_request=authenticate_only,
        openapi_config=None,
    )
    app.state.container = http.container
    async with AsyncTestClient(app) as client:
        yield ApiClient(client=client, container=http.container)


@pytest.mark.parametrize("alone", [False, True], ids=["the app", "the use cases alone"])
async def test_every_operation_refuses_exactly_the_callers_spec_5_refuses(
    http: ApiClient, alone: bool
) -> None:
    """Through the app, and through the use cases alone: the core refuses by itself what
    SPEC §5 refuses (the HTTP check comes first; it is not the only one)."""
    document = await document_of(http)
    async with use_cases_alone(http) if alone else nullcontext(http) as through:
        wrong = await refusals(document, through)
    assert wrong == []


async def test_head_is_guarded_as_get_is(http: ApiClient) -> None:
    """HEAD answers what GET would for every caller and every tenant named: the same status
    and length, so it tells no more than GET (RFC 9110 §9.3.2)."""
    document = await document_of(http)
    differ: list[str] = []
    gets = [call for call in calls(document, http) if call.method == "GET"]
    assert len({call.operation_id for call in gets}) >= 10
    for call in gets:
        for caller in SOME_CALLERS:
            auth = headers(http, caller)
            get = await http.client.get(call.path, params=call.params, headers=auth)
            head = await http.client.head(call.path, params=call.params, headers=auth)
            if (head.status_code, head.content) != (get.status_code, b"") or head.headers.get(
                "content-length"
            ) != get.headers.get("content-length"):
                differ.append(
                    f"{call} by {caller.name}: HEAD {head.status_code}, GET {get.status_code}"
                )
    assert differ == []


async def test_options_answers_every_caller_alike(http: ApiClient) -> None:
    """OPTIONS lists a path's methods, which the published document tells anyone: it is
    answered the same to every caller, with a token or without, whatever tenant the path
    or the query names, and never says whether that tenant or resource exists (ADR 0062).
    It is about the path: the query its other methods take is not refused."""
    document = await document_of(http)
    answers: dict[str, set[tuple[int, str | None]]] = {}
    for call in calls(document, http):
        seen = answers.setdefault(call.template, set())
        for caller in SOME_CALLERS:
            response = await http.client.options(
                call.path, params=call.params, headers=headers(http, caller)
            )
            seen.add((response.status_code, response.headers.get("allow")))
    methods: dict[str, set[str]] = {template: set() for template in answers}
    for method, template, _ in operations(document):
        methods[template] |= {method, *(["HEAD"] if method == "GET" else [])}
    assert answers == {
        template: {(204, ", ".join(sorted({*verbs, "OPTIONS"})))}
        for template, verbs in methods.items()
    }


def answer(response: Any, *named: str) -> Any:
    """An answer as a caller reads it, the request id left out and the ids it named as
    `<named>`, so that answers about different ids compare."""
    text = response.text
    for value in named:
        text = text.replace(value, "<named>")
    body = json.loads(text) if text else None
    if isinstance(body, dict):
        body.get("meta", {}).pop("request_id", None)
    return response.status_code, body


async def test_another_tenant_and_no_tenant_get_the_same_answer(http: ApiClient) -> None:
    """For a tenant-scoped caller, whatever names another tenant (its id in the path, the
    query or the body; the id of one of its doctors) is answered exactly as a tenant or id
    that does not exist is: the answer never tells that the other tenant or its resource
    exists (SPEC §5, ADR 0060)."""
    document = await document_of(http)
    by_call: dict[tuple[str, str], dict[str | None, Call]] = {}
    for call in calls(document, http):
        by_call.setdefault((call.method, call.template), {})[call.target] = call
    compared = 0
    for targets in by_call.values():
        other, unknown = targets.get(OTHER), targets.get(UNKNOWN)
        if other is None or unknown is None:
            continue
        for caller in CALLERS:
            if caller.kind != "tenant" or expected(caller, other) is None:
                continue
            auth = headers(http, caller)
            answers = []
            for call in (other, unknown):
                response = await http.client.request(
                    call.method, call.path, params=call.params, json=call.body, headers=auth
                )
                ids = [part for part in call.path.split("/") if part.startswith("msd_")]
                answers.append(answer(response, call.target or "", *ids))
            assert answers[0] == answers[1], (str(other), caller.name)
            compared += 1
    assert compared >= 20
