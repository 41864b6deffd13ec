"""The cursors of the offset lists (tenants, a tenant's users, sessions, doctors) as a caller
meets them: each page with a next one gives the same `next_cursor` in `data` and `meta`; a
cursor is refused (422 naming the field, nothing else said) when it was altered, sent with
other filters, sent to another list, or sent with an offset."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from admin_core.kernel.paging import (
    MAX_CURSOR_LENGTH,
    MAX_OFFSET,
    Position,
    decode_position,
    encode_position,
)
from admin_core.mso_doctors.rules import FULL_NAME_MAX
from tests.support.doctors import doctor_body
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


async def test_doctors_with_the_longest_names_are_paged_by_cursor(http: ApiClient) -> None:
    """A cursor holds the last doctor's name: one of 200 Thai letters (or of characters
    outside the BMP) still gives a cursor the list takes back."""
    names = ["ก" * 200, "\U0001f600" * 200, "ข" * 200]
    for n, name in enumerate(names):
        body = doctor_body("bumrungrad-bangkok", full_name=name, email=f"long{n}@example.org")
        response = await http.client.post(f"{ADMIN}/mso/doctors", json=body, headers=http.auth())
        assert response.status_code == 201, response.text
    walked: list[str] = []
    params = {"tenant_id": "bumrungrad-bangkok", "specialty": "cardiology", "limit": "1"}
    while True:
        response = await http.client.get(f"{ADMIN}/mso/doctors", params=params, headers=http.auth())
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        walked += [d["full_name"] for d in data["doctors"]]
        if data["next_cursor"] is None:
            break
        params["cursor"] = data["next_cursor"]
    assert set(names) <= set(walked)
    assert len(walked) == len(set(walked))


#: Names at or near the longest a doctor may have, of letters beyond ASCII (2 to 4 bytes).
LONGEST_NAMES = st.text(
    st.characters(min_codepoint=0x80, exclude_categories=("Cs",)),
    min_size=FULL_NAME_MAX - 10,
    max_size=FULL_NAME_MAX,
)


@settings(max_examples=200, deadline=None)
@given(
    key=st.one_of(
        st.tuples(st.text(max_size=FULL_NAME_MAX), st.text(max_size=64)),
        st.tuples(LONGEST_NAMES, st.text(min_size=64, max_size=64)),
        st.tuples(st.datetimes(timezones=st.just(UTC)), st.text(max_size=64)),
        st.tuples(st.text(max_size=128)),
    ),
    seen=st.integers(0, MAX_OFFSET),
    scope=st.lists(st.none() | st.text(max_size=64), max_size=5),
)
def test_every_sort_key_gives_a_cursor_the_list_takes_back(
    key: tuple[Any, ...], seen: int, scope: list[str | None]
) -> None:
    """Whatever a list's last row holds (a name up to its longest, ids, a time), its cursor
    fits the cursor's bound and names the same place."""
    position = Position(after=key, seen=seen)
    token = encode_position(position, scope=scope)
    assert len(token) <= MAX_CURSOR_LENGTH
    shape = tuple(datetime if isinstance(v, datetime) else str for v in key)
    assert decode_position(token, scope=scope, shape=shape) == position
