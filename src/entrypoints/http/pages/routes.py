"""`GET /admin/triage` and its assets under `/admin/assets/triage/`."""

from __future__ import annotations

import functools
from pathlib import Path

from litestar import Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.enums import MediaType
from litestar.response.base import ASGIResponse
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, ControllerRouterHandler

TRIAGE_DIR = Path(__file__).resolve().parent / "triage"
TRIAGE_PAGE = "/admin/triage"
TRIAGE_ASSETS = "/admin/assets/triage"

#: Only this origin's own script, styles and API; no inline code, no framing, no form posts.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
#: Sent with the pages and their assets alike.
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
#: Revalidate on every load, so a new release of a page is never mixed with an old script.
_REVALIDATE = CacheControlHeader(no_cache=True)


@functools.cache
def _triage_html() -> bytes:
    return (TRIAGE_DIR / "triage.html").read_bytes()


@get(TRIAGE_PAGE, include_in_schema=False, sync_to_thread=False, name="triage_page")
def triage_page() -> Response[bytes]:
    """The triage thresholds page: static HTML; everything it shows comes from the API."""
    return Response(
        content=_triage_html(),
        media_type=MediaType.HTML,
        headers={**PAGE_HEADERS, "Cache-Control": _REVALIDATE.to_header()},
    )


def _triage_assets() -> Router:
    """The page's stylesheet and script (the HTML itself is served by `triage_page` only)."""
    return create_static_files_router(
        path=TRIAGE_ASSETS,
        directories=[TRIAGE_DIR / "assets"],
        name="triage_assets",
        cache_control=_REVALIDATE,
        after_request=_with_page_headers,
        include_in_schema=False,
    )


def _with_page_headers(response: ASGIApp) -> ASGIApp:
    """The static files router answers with file responses, which take no `response_headers`
    of a router; this hook adds them."""
    if isinstance(response, ASGIResponse):
        for name, value in PAGE_HEADERS.items():
            response.headers[name] = value
    return response


def page_handlers() -> list[ControllerRouterHandler]:
    """Every page and its assets, for the app's route handlers."""
    return [triage_page, _triage_assets()]
