"""What the admin OpenAPI document says beyond what Litestar derives from the handlers.

Every admin operation declares the error responses it can give, each in the envelope's shape
(`errors(...)`: what every read or write shares, plus its own). `finish_document` then states
what the handlers imply but Litestar does not write: the bearer security scheme, request
bodies that reject unknown fields (`additionalProperties: false`) and bodies that are
optional. A test walks the document to keep it so, and schemathesis checks the answers
against it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec
import swagger_ui_bundle
from litestar import Litestar, get
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import PathParameter
from litestar.response import File
from litestar.routes import HTTPRoute

from admin_core.flags.model import MAX_STRING_LENGTH, FlagDefinition, FlagType
from admin_core.kernel.errors import AdminError
from admin_core.kernel.validation import CONTROL_RANGES
from entrypoints.http.errors import STATUS
from entrypoints.http.requests import (
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    MAX_JSON_DEPTH,
    body_required,
)
from entrypoints.http.schemas import ErrorEnvelope, In
from entrypoints.http.security import REQUIRES, Requirement

BEARER = "BearerToken"
#: Where the app serves Swagger UI's own files (an admin plane loads nothing from a CDN).
SWAGGER_ASSETS = "/admin/assets/swagger-ui"

_DESCRIPTIONS = {
    400: (
        "BAD_REQUEST: a body that is no JSON, names a field twice or nests deeper than"
        f" {MAX_JSON_DEPTH} levels, a query that is no UTF-8"
    ),
    401: "AUTH_HEADER_MISSING, AUTH_TOKEN_INVALID or AUTH_TOKEN_EXPIRED",
    403: "AUTH_INSUFFICIENT_PERMISSION (or ROLE_NOT_ALLOWED where roles are granted)",
    404: "what the request names (in its path, query or body) does not exist",
    408: (
        "REQUEST_TIMEOUT: the body did not arrive within the server's deadline"
        " (30 s unless configured); the connection is closed"
    ),
    409: "a conflict with the current state",
    413: f"PAYLOAD_TOO_LARGE: the body is over {MAX_BODY_BYTES} bytes",
    415: "UNSUPPORTED_MEDIA_TYPE: the body is not application/json, or has a content coding",
    422: "VALIDATION_ERROR: one error per offending field",
    500: "INTERNAL_ERROR: a bug; no internals are returned",
    502: "the upstream provider refused or failed",
    503: (
        "the service cannot answer now, and the code says why: a dependency out of reach or not"
        " configured, (a write) the database unable to keep it (its disk full, its file"
        " read-only: the message says which), the tenant's audit chain inconsistent, or"
        " SERVER_BUSY: the server holds as many connections as it takes (`Retry-After` says"
        " when to try again)"
    ),
}

#: What any authenticated read can answer (503: Clerk's signing keys or the database are out
#: of reach). No 429: nothing in the app limits the rate of requests (ADR 0043).
READ = (400, 401, 403, 422, 500, 503)
#: What any authenticated write with a JSON body can answer.
WRITE = (400, 401, 403, 408, 413, 415, 422, 500, 503)


def errors(*own: int | type[AdminError], base: tuple[int, ...] = READ) -> dict[int, ResponseSpec]:
    """The error responses of one operation: `base` plus its own, each a status or an error
    class, whose code the description of its status names (`TENANT_NOT_FOUND: ...`)."""
    codes: dict[int, list[str]] = {}
    statuses = set(base)
    for item in own:
        status = item if isinstance(item, int) else STATUS[item]
        statuses.add(status)
        if not isinstance(item, int):
            codes.setdefault(status, []).append(item.code)
    return {
        status: ResponseSpec(
            data_container=ErrorEnvelope,
            description=_described(status, codes.get(status, [])),
            generate_examples=False,
        )
        for status in sorted(statuses)
    }


def _described(status: int, codes: list[str]) -> str:
    if not codes:
        return _DESCRIPTIONS[status]
    return f"{' or '.join(codes)}: {_DESCRIPTIONS[status]}"


def openapi_config(path: str, render_plugins: list[OpenAPIRenderPlugin]) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Admin Core — admin API",
        version="1.0.0",
        description=(
            "The admin control plane. Every operation needs a Clerk session token "
            "(`Authorization: Bearer <token>`); errors come in the envelope of SPEC §4, and"
            " docs/errors.md lists every code with its status and what the caller does."
            " `adminctl serve` answers some requests itself, before any operation, and closes"
            " the connection: 400 BAD_REQUEST (not HTTP/1.1, a target that is no path, a body"
            " framed two ways), 408 REQUEST_TIMEOUT (headers that did not arrive in time), 414"
            f" URI_TOO_LONG (a request line over {MAX_HEADER_BYTES} bytes), 431"
            f" HEADERS_TOO_LARGE (a request line and headers over {MAX_HEADER_BYTES} bytes), 503"
            " SERVER_BUSY."
        ),
        path=path,
        render_plugins=render_plugins,
        use_handler_docstrings=True,
        security=[{BEARER: []}],
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="A Clerk session token (RS256); embedded: `adminctl token`.",
                )
            }
        ),
    )


def _request_structs() -> list[type[In]]:
    found: list[type[In]] = []
    pending = list(In.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending += cls.__subclasses__()
    return found


def finish_document(
    app: Litestar,
    roles: Collection[str],
    *,
    flags: Mapping[str, FlagDefinition] | None = None,
    thresholds: Collection[FlagDefinition] = (),
) -> None:
    """Complete the app's (cached) OpenAPI document, once its routes are registered.

    Request bodies are described by msgspec itself, from the very Structs that validate them,
    so the document states every constraint the API enforces (Litestar's own schemas leave
    out the constraints of list items), with `additionalProperties: false` as those Structs
    reject unknown fields. `roles` (the configured policy's) are the values a role takes;
    `flags` (the flag catalogue, by name) the names a flag takes and the values each takes,
    and `thresholds` (the catalogue's triage thresholds) the names of a thresholds update and
    the values each takes."""
    document: dict[str, Any] = app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
    _describe_bodies(document["components"]["schemas"], roles, flags or {}, thresholds)
    _name_parameter_values(document["paths"], roles, flags or {})
    _describe_operations(document["paths"], app)


def _describe_bodies(
    schemas: dict[str, Any],
    roles: Collection[str],
    flags: Mapping[str, FlagDefinition],
    thresholds: Collection[FlagDefinition],
) -> None:
    """The request bodies' schemas, as msgspec gives them, closed to unknown fields and with
    the values a role and a flag take: a flag's `value` is one the catalogue allows that
    flag; a thresholds update names thresholds only, in its `values` (each with the values
    the catalogue allows it, or null) and its `expected`."""
    _, components = msgspec.json.schema_components(_request_structs(), ref_template=_REF)
    for name, schema in components.items():
        if schema.get("type") == "object":
            schema["additionalProperties"] = False
        properties = schema.get("properties", {})
        if "role" in properties:
            properties["role"]["enum"] = sorted(roles)
        if "flag" in properties and flags:
            properties["flag"]["enum"] = sorted(flags)
            if "value" in properties:
                schema["oneOf"] = [
                    {"properties": {"flag": {"const": flag}, "value": _flag_value_schema(d)}}
                    for flag, d in sorted(flags.items())
                ]
        if "values" in properties and thresholds:
            _name_thresholds(properties["values"], thresholds, valued=True)
        if "expected" in properties and thresholds:
            for variant in properties["expected"].get("anyOf", [properties["expected"]]):
                if variant.get("type") == "object":
                    _name_thresholds(variant, thresholds, valued=False)
        schemas[name] = schema


def _name_thresholds(
    schema: dict[str, Any], thresholds: Collection[FlagDefinition], *, valued: bool
) -> None:
    """An object keyed by triage thresholds: no other name (FLAG_UNKNOWN), and, `valued`, each
    threshold's value as the catalogue allows it, or null (the tenant's override cleared)."""
    schema["propertyNames"] = {"enum": sorted(d.name for d in thresholds)}
    if valued:
        schema["properties"] = {
            d.name: {"anyOf": [_flag_value_schema(d), {"type": "null"}]}
            for d in sorted(thresholds, key=lambda d: d.name)
        }
        schema["additionalProperties"] = False


#: A string flag's value: no control characters (`admin_core.flags.model`).
_FLAG_STRING_PATTERN = rf"^[^{CONTROL_RANGES}]*$"


def _flag_value_schema(definition: FlagDefinition) -> dict[str, Any]:
    """The JSON Schema of the values the catalogue allows a flag. What JSON Schema cannot
    state is said in words: a float's step (the check forgives a float's rounding, which
    `multipleOf` does not), and weights that sum to 1."""
    described: dict[str, Any] = (
        {"description": definition.description} if definition.description else {}
    )
    if definition.type is FlagType.BOOL:
        return {"type": "boolean", **described}
    if definition.type in (FlagType.INT, FlagType.FLOAT):
        schema: dict[str, Any] = {
            "type": "integer" if definition.type is FlagType.INT else "number",
            **described,
        }
        if definition.minimum is not None:
            schema["minimum"] = _bound(definition.minimum)
        if definition.maximum is not None:
            schema["maximum"] = _bound(definition.maximum)
        step, low = definition.step, definition.minimum or 0
        whole = step is not None and float(step).is_integer() and float(low) % step == 0
        if step is not None and definition.type is FlagType.INT and whole:
            schema["multipleOf"] = int(step)  # the grid from `minimum` is the step's multiples
            return schema
        if step is not None:
            words = f"A multiple of {_bound(step)}" + (f" from {_bound(low)}" if low else "")
            schema["description"] = f"{schema.get('description', '')} {words}.".strip()
        return schema
    if definition.type is FlagType.STRING:
        if definition.allowed:
            return {"enum": list(definition.allowed), **described}
        return {
            "type": "string",
            "maxLength": MAX_STRING_LENGTH,
            "pattern": _FLAG_STRING_PATTERN,
            **described,
        }
    if definition.allowed:
        return {
            "type": "array",
            "items": {"enum": list(definition.allowed)},
            "uniqueItems": True,
            **described,
        }
    if definition.weights:
        weight = {"type": "number", "minimum": 0, "maximum": 1}
        return {
            "type": "object",
            "properties": dict.fromkeys(definition.weights, weight),
            "required": list(definition.weights),
            "additionalProperties": False,
            "description": definition.description
            if "sum to 1" in definition.description
            else f"{definition.description} The weights sum to 1.".strip(),
        }
    return described


def _bound(value: float) -> float:
    """A bound as the catalogue wrote it: a whole one as an integer (`0`, not `0.0`)."""
    return int(value) if float(value).is_integer() else value


def _name_parameter_values(
    paths: dict[str, Any], roles: Collection[str], flags: Collection[str]
) -> None:
    """The values a role in a path and a flag in a query take."""
    for operation in _operations(paths):
        for parameter in operation.get("parameters", []):
            if parameter["name"] == "role" and parameter["in"] == "path":
                parameter["schema"]["enum"] = sorted(roles)
            if parameter["name"] == "flag" and parameter["in"] == "query" and flags:
                parameter["schema"]["enum"] = sorted(flags)


def _describe_operations(paths: dict[str, Any], app: Litestar) -> None:
    """Which bodies are optional, and what each operation needs (permission and scope)."""
    optional = set(_optional_bodies(app))
    needs = _requirements(app)
    for path, item in paths.items():
        for method, operation in item.items():
            if (path, method) in optional and "requestBody" in operation:
                operation["requestBody"]["required"] = False
            if (requirement := needs.get((path, method))) is not None:
                said = operation.get("description", "").strip()
                operation["description"] = f"{said}\n\n{_needs(requirement)}".strip()


def _operations(paths: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in paths.values():
        yield from item.values()


_REF = "#/components/schemas/{name}"


def _requirements(app: Litestar) -> dict[tuple[str, str], Requirement]:
    """(path, method) → the permission and scope the operation needs (`requires(...)`)."""
    found = {}
    for path, handler in _handlers(app):
        requirement = handler.opt.get(REQUIRES)
        if isinstance(requirement, Requirement):
            found.update({(path, method.lower()): requirement for method in handler.http_methods})
    return found


def _needs(requirement: Requirement) -> str:
    """What the document says an operation needs (SPEC §5)."""
    scope = (
        "platform scope" if requirement.platform else "a tenant-scoped caller: its own tenant only"
    )
    return f"Needs `{requirement.permission.value}` ({scope})."


def _optional_bodies(app: Litestar) -> list[tuple[str, str]]:
    """(path, method) of the operations whose JSON body may be left out."""
    found = []
    for path, handler in _handlers(app):
        if body_required(handler) is False:
            found += [(path, m.lower()) for m in handler.http_methods]
    return found


def _handlers(app: Litestar) -> Iterator[tuple[str, HTTPRouteHandler]]:
    """Each HTTP handler of the app, with the path of its route as the document writes it."""
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            yield from ((route.path_format, handler) for handler in route.route_handlers)


#: The files the viewer loads; nothing else of the package (its demo page calls other hosts).
SWAGGER_FILES = frozenset(
    {
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-ui-standalone-preset.js",
        "favicon-32x32.png",
    }
)


@get(f"{SWAGGER_ASSETS}/{{name:str}}", include_in_schema=False, sync_to_thread=False)
def swagger_ui_asset(name: Annotated[str, PathParameter(max_length=64)]) -> File:
    """One of Swagger UI's scripts, styles or icon, from the package that ships them."""
    if name not in SWAGGER_FILES:
        raise NotFoundException()
    return File(
        path=Path(swagger_ui_bundle.swagger_ui_path) / name,
        content_disposition_type="inline",
        headers={"X-Content-Type-Options": "nosniff"},
    )


def swagger_ui() -> SwaggerRenderPlugin:
    """The document's viewer, loading every asset from this app."""
    return SwaggerRenderPlugin(
        js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
        css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{SWAGGER_ASSETS}/swagger-ui-standalone-preset.js",
        favicon=f'<link rel="icon" type="image/png" href="{SWAGGER_ASSETS}/favicon-32x32.png">',
    )
