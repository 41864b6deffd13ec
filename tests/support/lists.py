"""The admin API's lists as a caller pages through them, on the database a test names."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from adapters.sql.migrate import upgrade
from entrypoints.container import aclose
from entrypoints.settings import Settings
from tests.support.databases import postgres_urls, truncate_postgres
from tests.support.http import ApiClient, api

ADMIN = "/api/v1/admin"


@asynccontextmanager
async def demo_api(backend: str, tmp_path: Path) -> AsyncIterator[ApiClient]:
    """The app with the demo data on an empty database of `backend` (memory, sqlite,
    postgres), closed on exit."""
    url = "memory://"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}"
        await upgrade(url)
    elif backend == "postgres":
        url, owner_url = postgres_urls()
        await truncate_postgres(owner_url)
    async with api(tmp_path, Settings(database_url=url)) as client:
        try:
            yield client
        finally:
            await aclose(client.container)


async def document_of(http: ApiClient) -> dict[str, Any]:
    document: dict[str, Any] = (await http.client.get(f"{ADMIN}/schema/openapi.json")).json()
    return document


def list_operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path template, operation) of every list of the document: each GET that pages."""
    for template, item in document["paths"].items():
        operation = item.get("get")
        if operation and any(p["name"] == "limit" for p in operation.get("parameters", [])):
            yield template, operation


def rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The one list of a list's `data` (`tenants`, `sessions`, `entries`, ...)."""
    [items] = [value for value in body["data"].values() if isinstance(value, list)]
    return items


async def walk(
    http: ApiClient,
    path: str,
    params: dict[str, str],
    auth: dict[str, str],
    *,
    cursor: bool,
    limit: int = 2,
) -> tuple[list[dict[str, Any]], set[Any]]:
    """Every row of a list, a page of `limit` at a time (following `next_cursor`, or by
    offset), and the totals its pages said."""
    found: list[dict[str, Any]] = []
    totals: set[Any] = set()
    page: dict[str, str] = {"limit": str(limit)}
    while True:
        response = await http.client.get(path, params={**params, **page}, headers=auth)
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        found += rows(body)
        totals.add(body["meta"].get("total"))
        following = body["meta"].get("next_cursor") if cursor else None
        if following is not None:
            page["cursor"] = following
        elif cursor or not rows(body):
            return found, totals
        else:
            page["offset"] = str(int(page.get("offset", "0")) + limit)
