"""Every list of the admin API walked page by page on every database (memory, SQLite,
PostgreSQL), through the real app with the demo data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.http import PLATFORM_ORG, ApiClient
from tests.support.lists import demo_api, document_of, list_operations, rows, walk

OWN, OWN_ORG = "apollo-chennai", "org_apollo_chennai"


@pytest.fixture
async def http(backend: str, tmp_path: Path) -> AsyncIterator[ApiClient]:
    async with demo_api(backend, tmp_path) as client:
        yield client


@pytest.mark.parametrize("role", ["org:admin", "org:provider:admin"])
async def test_a_tenant_scoped_list_holds_its_own_tenant_rows_and_counts_only_them(
    http: ApiClient, role: str
) -> None:
    """Every list of the document, read by a tenant-scoped caller without a tenant filter
    (or with its own tenant in the path), page by page: each row is its tenant's, all of
    them are there, each once, in the order a platform caller filtering on that tenant
    reads them, and each page's `total` counts them alone (SPEC §5: it sees only its own
    tenant). A list with offsets and cursors gives the same rows walked either way."""
    document = await document_of(http)
    tenant_scoped = http.auth(role, OWN_ORG, user="user_prober")
    platform = http.auth("org:super_admin", PLATFORM_ORG)
    listed = []
    for template, operation in list_operations(document):
        listed.append(operation["operationId"])
        names = {p["name"]: p for p in operation.get("parameters", [])}
        cursor = "cursor" in names
        path = template.replace("{tenant_id}", OWN)
        filtered = {} if names["tenant_id"]["in"] == "path" else {"tenant_id": OWN}
        mine, my_totals = await walk(http, path, {}, tenant_scoped, cursor=cursor)
        theirs, their_totals = await walk(http, path, filtered, platform, cursor=cursor)
        if cursor and "offset" in names:
            by_offset, offset_totals = await walk(http, path, {}, tenant_scoped, cursor=False)
            assert (by_offset, offset_totals) == (mine, my_totals), template
        assert mine, template
        if "{tenant_id}" not in template:
            assert all(row.get("tenant_id", row.get("id")) == OWN for row in mine), template
        assert len({repr(row) for row in mine}) == len(mine), template
        assert mine == theirs, template
        assert my_totals == their_totals, template
        assert my_totals <= {len(mine), None}, template
    assert sorted(listed) == [
        "listMsoDoctors",
        "listMsoSessions",
        "listTenantUsers",
        "listTenants",
        "queryAuditLog",
    ]


@pytest.mark.parametrize(
    "operation_id", ["listMsoDoctors", "listMsoSessions", "listTenantUsers", "listTenants"]
)
async def test_a_page_read_with_a_cursor_counts_the_whole_list_as_the_first_page_does(
    http: ApiClient, operation_id: str
) -> None:
    """`total` means one thing on every list that carries it, however a page was reached:
    every row the filters match, the rows before the cursor too (not the rows left after
    it), so a walk one row at a time by cursor says the same total on each page as on
    the first, and each page's `offset` counts the rows shown before it."""
    document = await document_of(http)
    [(template, operation)] = [
        (template, operation)
        for template, operation in list_operations(document)
        if operation["operationId"] == operation_id
    ]
    names = {p["name"] for p in operation["parameters"]}
    assert {"cursor", "offset"} <= names, operation_id
    path = template.replace("{tenant_id}", OWN)
    platform = http.auth("org:super_admin", PLATFORM_ORG)
    pages: list[tuple[int, int, int]] = []  # (rows, total, offset) of each page
    page: dict[str, str] = {"limit": "1"}
    while True:
        response = await http.client.get(path, params=page, headers=platform)
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        meta = body["meta"]
        pages.append((len(rows(body)), meta["total"], meta["offset"]))
        if meta.get("next_cursor") is None:
            break
        page["cursor"] = meta["next_cursor"]
    listed = sum(shown for shown, _, _ in pages)
    assert len(pages) > 1, operation_id
    assert [(total, offset) for _, total, offset in pages] == [
        (listed, before) for before in range(len(pages))
    ], operation_id
