"""Web pages the app serves (SPEC §6.6): thin clients of the admin JSON API.

A page is static HTML with one stylesheet and one script, all files of this package, served
under a strict Content-Security-Policy (no inline script or style, nothing from another
origin). Pages stay out of the admin OpenAPI document and need no authentication to load: the
data they show comes from the API, with the bearer token the operator signs in with.
"""

from __future__ import annotations

from entrypoints.http.pages.routes import PAGE_HEADERS, TRIAGE_ASSETS, page_handlers

__all__ = ["PAGE_HEADERS", "TRIAGE_ASSETS", "page_handlers"]
