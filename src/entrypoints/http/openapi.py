"""What the admin OpenAPI document says beyond what Litestar derives from the handlers.

Every admin operation declares the error responses it can give, each in the envelope's shape
(`errors(...)`: what every read or write shares, plus its own). `finish_document` then states
what the handlers imply but Litestar does not write: the bearer security scheme, request
bodies that reject unknown fields (`additionalProperties: false`) and bodies that are
optional. A test walks the document to keep it so, and schemathesis checks the answers
against it.
"""

from __future__ import annotations

import swagger_ui_bundle
from litestar import Litestar, Router
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, Operation, Reference, Schema, SecurityScheme
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router

from entrypoints.http.schemas import ErrorEnvelope, In

BEARER = "BearerToken"
#: Where the app serves Swagger UI's own files (an admin plane loads nothing from a CDN).
SWAGGER_ASSETS = "/admin/assets/swagger-ui"

_DESCRIPTIONS = {
    400: "BAD_REQUEST: the body is not parseable JSON",
    401: "AUTH_HEADER_MISSING, AUTH_TOKEN_INVALID or AUTH_TOKEN_EXPIRED",
    403: "AUTH_INSUFFICIENT_PERMISSION (or ROLE_NOT_ALLOWED where roles are granted)",
    404: "the resource named in the path does not exist",
    409: "a conflict with the current state",
    413: "PAYLOAD_TOO_LARGE: the body is over the limit",
    415: "UNSUPPORTED_MEDIA_TYPE: the body is not application/json",
    422: "VALIDATION_ERROR: one error per offending field",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR: a bug; no internals are returned",
    502: "the upstream provider refused or failed",
    503: "a dependency is unreachable",
}

#: What any authenticated read can answer.
READ = (400, 401, 403, 422, 429, 500)
#: What any authenticated write with a JSON body can answer.
WRITE = (400, 401, 403, 413, 415, 422, 429, 500)


def errors(*statuses: int, base: tuple[int, ...] = READ) -> dict[int, ResponseSpec]:
    """The error responses of one operation: `base` plus `statuses`."""
    return {
        status: ResponseSpec(
            data_container=ErrorEnvelope,
            description=_DESCRIPTIONS[status],
            generate_examples=False,
        )
        for status in sorted({*base, *statuses})
    }


def openapi_config(path: str, render_plugins: list[OpenAPIRenderPlugin]) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Admin Core — admin API",
        version="1.0.0",
        description=(
            "The admin control plane. Every operation needs a Clerk session token "
            "(`Authorization: Bearer <token>`); errors come in the envelope of SPEC §4."
        ),
        path=path,
        render_plugins=render_plugins,
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


def _request_structs() -> set[str]:
    names: set[str] = set()
    pending = list(In.__subclasses__())
    while pending:
        cls = pending.pop()
        names.add(cls.__name__)
        pending += cls.__subclasses__()
    return names


def finish_document(app: Litestar) -> None:
    """Complete the app's (cached) OpenAPI document; called once the routes are registered."""
    document = app.openapi_schema
    closed = _request_structs()
    for name, schema in (document.components.schemas or {}).items():
        if name in closed and isinstance(schema, Schema):
            schema.additional_properties = False
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path_format not in (document.paths or {}):
            continue
        item = (document.paths or {})[route.path_format]
        for handler in route.route_handlers:
            for method in handler.http_methods:
                operation = getattr(item, method.lower(), None)
                definition = handler.parsed_fn_signature.parameters.get("data")
                if (
                    isinstance(operation, Operation)
                    and definition is not None
                    and operation.request_body is not None
                    and not isinstance(operation.request_body, Reference)
                    and (definition.has_default or definition.is_optional)
                ):
                    operation.request_body.required = False


def swagger_ui_assets() -> Router:
    """Swagger UI's scripts and styles, from the package that ships them."""
    return create_static_files_router(
        path=SWAGGER_ASSETS,
        directories=[swagger_ui_bundle.swagger_ui_path],
        include_in_schema=False,
    )


def swagger_ui() -> SwaggerRenderPlugin:
    """The document's viewer, loading every asset from this app."""
    return SwaggerRenderPlugin(
        js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
        css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{SWAGGER_ASSETS}/swagger-ui-standalone-preset.js",
        favicon=f'<link rel="icon" type="image/png" href="{SWAGGER_ASSETS}/favicon-32x32.png">',
    )
