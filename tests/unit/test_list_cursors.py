"""The cursors of the offset lists (tenants, a tenant's users, sessions, doctors) as a caller
meets them: each page with a next one gives the same `next_cursor` in `data` and `meta`; a
cursor is refused (422 naming the field, nothing else said) when it was altered, sent with
other filters, sent to another list, or sent with an offset."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.http import ApiClient, api
from tests.support.lists import ADMIN

#: Each offset list, and a filter that changes what it lists.
LISTS: dict[str, tuple[str, dict[str, str]]] = {
    "tenants": (f"{ADMIN}/tenants", {"status": "active"}),
    "users": (f"{ADMIN}/tenants/platform/users", {}),
    "sessions": (f"{ADMIN}/mso/sessions", {"status": "completed"}),
    "doctors": (f"{ADMIN}/mso/doctors", {"specialty": "cardiology"}),
}


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[ApiClient]:
    async with api(tmp_path) as client:
        yield client


async def first_cursor(http: ApiClient, path: str) -> str:
    response = await http.client.get(path, params={"limit": 1}, headers=http.auth())
    assert response.status_code == 200, response.text
    body = response.json()
    cursor: str = body["data"]["next_cursor"]
    assert cursor, path
    assert body["meta"]["next_cursor"] == cursor
    return cursor


def refused(response: Any) -> list[str | None]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert {e["code"] for e in body["errors"]} == {"VALIDATION_ERROR"}
    return sorted(e.get("field") for e in body["errors"])


@pytest.mark.parametrize("name", LISTS)
async def test_a_cursor_is_refused_with_other_filters_an_offset_or_on_another_list(
    http: ApiClient, name: str
) -> None:
    path, other_filter = LISTS[name]
    cursor = await first_cursor(http, path)
    auth = http.auth()
    if other_filter:
        response = await http.client.get(
            path, params={"limit": 1, "cursor": cursor, **other_filter}, headers=auth
        )
        assert refused(response) == ["cursor"]
    response = await http.client.get(
        path, params={"limit": 1, "cursor": cursor, "offset": 1}, headers=auth
    )
    assert refused(response) == ["offset"]
    for other, (other_path, _) in LISTS.items():
        if other != name:
            response = await http.client.get(
                other_path, params={"limit": 1, "cursor": cursor}, headers=auth
            )
            assert refused(response) == ["cursor"], other


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    name=st.sampled_from(list(LISTS)),
    place=st.integers(0, 10_000),
    replacement=st.sampled_from("AZaz09-_"),
)
async def test_an_altered_cursor_is_refused_and_never_an_error(
    http: ApiClient, name: str, place: int, replacement: str
) -> None:
    """A cursor with any one character changed is a 422 naming `cursor` (or it is the same
    cursor), never a 500 nor a page from somewhere else."""
    path, _ = LISTS[name]
    cursor = await first_cursor(http, path)
    at = place % len(cursor)
    altered = cursor[:at] + replacement + cursor[at + 1 :]
    response = await http.client.get(
        path, params={"limit": 1, "cursor": altered}, headers=http.auth()
    )
    if altered == cursor:
        assert response.status_code == 200
    else:
        assert refused(response) == ["cursor"]


@pytest.mark.parametrize("name", LISTS)
async def test_the_last_page_gives_no_cursor(http: ApiClient, name: str) -> None:
    path, _ = LISTS[name]
    response = await http.client.get(path, params={"limit": 200}, headers=http.auth())
    body = response.json()
    assert body["data"]["next_cursor"] is None
    assert "next_cursor" not in body["meta"]
    assert (
        len(next(v for v in body["data"].values() if isinstance(v, list))) == body["meta"]["total"]
    )
