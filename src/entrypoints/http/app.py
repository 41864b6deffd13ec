"""The Litestar app factory. No app is built at import time: callers pass a container."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast
from uuid import uuid4

from litestar import Litestar, Response
from litestar.di import Provide
from litestar.enums import MediaType, ScopeType
from litestar.routes import HTTPRoute
from litestar.status_codes import HTTP_204_NO_CONTENT
from litestar.types import (
    ASGIApp,
    ControllerRouterHandler,
    HTTPScope,
    Message,
    Receive,
    Scope,
    Send,
)

from admin_core.audit.use_cases import WriteCheckpointCommand
from admin_core.kernel.errors import AdminError
from admin_core.kernel.principal import Principal
from admin_core.side_effects.use_cases import ReconcileCommand
from entrypoints.container import Container, aclose
from entrypoints.http.envelope import add_request_id_header, ensure_request_id
from entrypoints.http.errors import allowed_methods, handle_exception
from entrypoints.http.openapi import (
    finish_document,
    openapi_config,
    swagger_ui,
    swagger_ui_asset,
)
from entrypoints.http.pages import page_handlers
from entrypoints.http.requests import MAX_BODY_BYTES, check_request
from entrypoints.http.routes.audit import AuditLogController
from entrypoints.http.routes.flags import FlagsController, TriageController
from entrypoints.http.routes.graph import GraphController
from entrypoints.http.routes.health import HealthController
from entrypoints.http.routes.matching import MatchingController
from entrypoints.http.routes.mso_doctors import MsoDoctorController
from entrypoints.http.routes.mso_sessions import MsoSessionController
from entrypoints.http.routes.system import audit_checkpoint_keys, health, jwks, ready
from entrypoints.http.routes.tenants import ProviderController, TenantController
from entrypoints.http.routes.users import TenantUserController
from entrypoints.http.security import REQUIRES, current_principal
from entrypoints.logs import REQUEST_ID

log = logging.getLogger("admin_core.http")

ADMIN_SCHEMA_PATH = "/api/v1/admin/schema"
#: How long the last checkpoint of a stopping app may take: with `serve`'s 25 s for the
#: requests in flight and the resources' 4 s to close, within an orchestrator's 30 s.
LAST_CHECKPOINT_S = 1.0

#: The admin API, one controller per area (system routes stay out of the admin document).
ADMIN_CONTROLLERS: tuple[ControllerRouterHandler, ...] = (
    TenantController,
    ProviderController,
    TenantUserController,
    GraphController,
    AuditLogController,
    FlagsController,
    TriageController,
    MatchingController,
    MsoDoctorController,
    MsoSessionController,
    HealthController,
)


def create_app(
    container: Container,
    *,
    debug: bool = False,
    on_startup: Any = None,
    reconcile_every: float | None = None,
    checkpoint_every: float | None = None,
    freeze_after_start: bool = False,
) -> Litestar:
    """`on_startup`, if given, is awaited with the container when the app starts, before it
    serves a request (the embedded `serve` seeds the demo data set there). `reconcile_every`
    seconds, if given, the intents of external side effects left pending are settled
    (docs/adr/0048) while the app runs; every `checkpoint_every` seconds, if given, a signed
    checkpoint of the audit chains is written when they moved (docs/adr/0056), and once more
    when the app stops.

    `freeze_after_start`, for a process that only serves this app (`adminctl serve`): what
    start-up built (the container, the routes, the OpenAPI document: some 130,000 objects)
    lives as long as the process, so it is collected once and frozen, and a full collection
    while serving walks only what requests made — a ~40 ms pause less each time (ADR 0047).
    Unfrozen when the app stops. A process embedding the app decides about its own
    collector and leaves it False."""

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        reconciling: asyncio.Task[None] | None = None
        checkpointing: asyncio.Task[None] | None = None
        try:
            if on_startup is not None:
                await on_startup(container)
            if reconcile_every:
                reconciling = asyncio.create_task(_reconcile(container, reconcile_every))
            if checkpoint_every:
                checkpointing = asyncio.create_task(_checkpoint(container, checkpoint_every))
            if freeze_after_start:
                gc.collect()
                gc.freeze()
            yield
        finally:
            if freeze_after_start:
                gc.unfreeze()
            for task in (reconciling, checkpointing):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if checkpointing is not None:
                await _last_checkpoint(container)
            await aclose(container)

    handlers: list[ControllerRouterHandler] = [
        health,
        ready,
        audit_checkpoint_keys,
        swagger_ui_asset,
        *page_handlers(),
        *ADMIN_CONTROLLERS,
    ]
    if container.settings().embedded:
        handlers.append(jwks)

    app = Litestar(
        route_handlers=handlers,
        dependencies={"principal": Provide(current_principal, sync_to_thread=False)},
        exception_handlers={Exception: handle_exception},
        before_send=[add_request_id_header],
        before_request=check_request,
        lifespan=[lifespan],
        openapi_config=openapi_config(ADMIN_SCHEMA_PATH, [swagger_ui()]),
        request_max_body_size=MAX_BODY_BYTES,
        debug=debug,
        logging_config=None,  # the process decides (`adminctl serve`: entrypoints.logs)
    )
    app.state.container = container
    _answer_options_with_every_method(app)
    _answer_head_as_get(app)
    _name_each_request(app)
    catalogue = container.flags.catalogue()
    finish_document(
        app,
        container.auth.role_policy().known_roles(),
        flags=catalogue.definitions,
        thresholds=catalogue.triage,
    )
    return app


async def _reconcile(container: Container, every: float) -> None:
    """Settle pending intents every `every` seconds; a failed pass is logged and retried."""
    while True:
        await asyncio.sleep(every)
        principal = Principal.system("reconcile", request_id=f"reconcile-{uuid4().hex}")
        REQUEST_ID.set(principal.request_id or "-")
        try:
            report = await container.reconcile_side_effects().execute(principal, ReconcileCommand())
        except AdminError as error:  # a dependency out of reach: said in one line, tried again
            log.warning(
                "reconciling external side effects failed: %s %s", error.code, error.message
            )
            continue
        except Exception:
            log.exception("reconciling external side effects failed")
            continue
        if report.completed or report.abandoned:
            log.info(
                "reconciled side effects: %d completed, %d abandoned, %d still pending",
                len(report.completed),
                len(report.abandoned),
                len(report.unresolved),
            )


async def _checkpoint(container: Container, every: float) -> None:
    """Seal the audit chains every `every` seconds when they moved; one replica at a time
    writes (the others find the lock taken); a failed pass is logged and retried."""
    while True:
        await asyncio.sleep(every)
        await _checkpoint_pass(container)


async def _last_checkpoint(container: Container) -> None:
    """On the way out, seal what was written since the last pass (a pass the stop cut short
    included), within `LAST_CHECKPOINT_S`: the next start, or another replica, seals it
    otherwise."""
    try:
        async with asyncio.timeout(LAST_CHECKPOINT_S):
            await _checkpoint_pass(container)
    except TimeoutError:
        log.warning("the last audit checkpoint was not written within %g s", LAST_CHECKPOINT_S)


async def _checkpoint_pass(container: Container) -> None:
    command = WriteCheckpointCommand(only_if_changed=True, wait_seconds=0)
    principal = Principal.system("checkpoint", request_id=f"checkpoint-{uuid4().hex}")
    named = REQUEST_ID.set(principal.request_id or "-")
    try:
        written = await container.audit.write_checkpoint().execute(principal, command)
        if written.written and written.checkpoint is not None:
            log.info("audit checkpoint %d written", written.checkpoint.seq)
    except AdminError as error:  # a dependency out of reach: said in one line, tried again
        log.warning("writing an audit checkpoint failed: %s %s", error.code, error.message)
    except Exception:
        log.exception("writing an audit checkpoint failed")
    finally:
        REQUEST_ID.reset(named)  # the stop's own lines follow the last pass


def _name_each_request(app: Litestar) -> None:
    """Every line written while serving a request carries its id, from the request's first
    step: not only once it is authenticated or its answer starts (a probe's "not ready").
    Once it is served, the caller's own id is back: a host that mounts the app calls it in
    its own task, and its lines after the call are not the app's request's."""
    inner: ASGIApp = app.asgi_handler

    async def named(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await inner(scope, receive, send)
            return
        callers = REQUEST_ID.set(REQUEST_ID.get())
        try:
            ensure_request_id(scope)
            await inner(scope, receive, send)
        finally:
            REQUEST_ID.reset(callers)

    app.asgi_handler = named


def _answer_head_as_get(app: Litestar) -> None:
    """HEAD answers what GET would, without the body (RFC 9110 §9.3.2: a server that serves
    GET serves HEAD): the same status, the same headers (`Content-Length` included), after the
    same authentication. Litestar routes HEAD only to handlers declared for it, so the request
    is handed on as a GET and its body dropped on the way out."""
    inner: ASGIApp = app.asgi_handler

    async def head_as_get(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope.get("method") != "HEAD":
            await inner(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        as_get = cast("HTTPScope", {**scope, "method": "GET"})
        await inner(as_get, receive, without_body)

    app.asgi_handler = head_as_get


def _answer_options_with_every_method(app: Litestar) -> None:
    """`OPTIONS` lists every method of the path in `Allow`, to every caller alike. Litestar
    builds its automatic OPTIONS handler with the first handler registered for a path and
    keeps it when more handlers join the path (`GET` and `POST /tenants` would answer
    `Allow: OPTIONS, POST`), and hands it its controller's options, a controller's permission
    among them: it is answered without one, as the published document is (ADR 0062)."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "OPTIONS" not in route.route_handler_map:
            continue
        handler, _ = route.route_handler_map["OPTIONS"]
        handler.opt.pop(REQUIRES, None)
        allow = allowed_methods(route.methods)

        def options(scope: Scope, allow: str = allow) -> Response[None]:
            return Response(
                content=None,
                status_code=HTTP_204_NO_CONTENT,
                headers={"Allow": allow},
                media_type=MediaType.TEXT,
            )

        handler._fn = options  # type: ignore[assignment]  # called as `fn(scope=...)`, synchronously
