"""Clerk answering something other than what it documents (a body that is not JSON, a field
missing or of another type, a redirect loop) is IDENTITY_PROVIDER_UNAVAILABLE (503), never a
500 from inside the adapter."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from adapters.clerk.backend import ClerkIdentityProvider
from admin_core.users.errors import IdentityProviderUnavailable

Call = Callable[[ClerkIdentityProvider], Awaitable[Any]]

CALLS: dict[str, Call] = {
    "get_user": lambda clerk: clerk.get_user("user_1"),
    "list_memberships": lambda clerk: clerk.list_memberships("org_1"),
    "create_membership": lambda clerk: clerk.create_membership("org_1", "user_1", "org:admin"),
    "update_membership": lambda clerk: clerk.update_membership("org_1", "user_1", "org:admin"),
}
ANSWERS = {
    "not JSON": httpx.Response(200, content=b"<html>maintenance</html>"),
    "a list": httpx.Response(200, json=[1, 2]),
    "fields missing": httpx.Response(200, json={"object": "user"}),
    "a field of another type": httpx.Response(200, json={"data": 5, "total_count": "many"}),
    "JSON nested deeper than a parser goes": httpx.Response(
        200, content=b"[" * 100_000 + b"]" * 100_000
    ),
}


@pytest.mark.parametrize("answer", list(ANSWERS), ids=list(ANSWERS))
@pytest.mark.parametrize("call", list(CALLS), ids=list(CALLS))
async def test_an_answer_clerk_does_not_document_is_the_provider_unavailable(
    call: str, answer: str
) -> None:
    def reply(_: httpx.Request) -> httpx.Response:
        return ANSWERS[answer]

    clerk = ClerkIdentityProvider(
        base_url="https://api.clerk.test/v1",
        secret_key="sk_test_x",
        transport=httpx.MockTransport(reply),
    )
    try:
        with pytest.raises(IdentityProviderUnavailable):
            await CALLS[call](clerk)
    finally:
        await clerk.aclose()


async def test_a_redirect_loop_is_the_provider_unavailable() -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": str(request.url)})

    clerk = ClerkIdentityProvider(
        base_url="https://api.clerk.test/v1",
        secret_key="sk_test_x",
        backoff=0,
        transport=httpx.MockTransport(reply),
    )
    try:
        with pytest.raises(IdentityProviderUnavailable):
            await clerk.get_user("user_1")
    finally:
        await clerk.aclose()
