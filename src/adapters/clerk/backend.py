"""Clerk's Backend API as the identity provider: users and organisation memberships.

Endpoints (base `https://api.clerk.com/v1`, `Authorization: Bearer <secret key>`):
`GET /users/{user_id}`, `GET|POST /organizations/{org_id}/memberships`,
`PATCH|DELETE /organizations/{org_id}/memberships/{user_id}`. Errors come as
`{"errors": [{"code", "message", "long_message"}]}`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from adapters.http.answers import json_body
from adapters.http.retry import RetryPolicy
from admin_core.kernel.errors import RETRY_AFTER_SECONDS
from admin_core.users.errors import IdentityProviderUnavailable, UserNotFound
from admin_core.users.ports import (
    IdentityProvider,
    IdentityUser,
    MembershipAlreadyExists,
    MembershipNotFound,
    MembershipPage,
    OrganizationNotFound,
    OrgMembership,
)

log = logging.getLogger("admin_core.clerk")
T = TypeVar("T")

MAX_LIMIT = 500
ALREADY_A_MEMBER = "already_a_member_in_organization"


def _segment(value: str) -> str:
    """One path segment, so an id can never change the path it is put in."""
    return quote(value, safe="")


def _first_error(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json_body(response)
    except ValueError:
        return {}
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        return dict(errors[0])
    return {}


def _name(first: Any, last: Any, fallback: Any = None) -> str | None:
    name = " ".join(p for p in (first, last) if isinstance(p, str) and p.strip()).strip()
    if name:
        return name
    return fallback if isinstance(fallback, str) and fallback else None


def _user(body: Mapping[str, Any]) -> IdentityUser:
    primary = body.get("primary_email_address_id")
    addresses = [a for a in body.get("email_addresses") or [] if isinstance(a, Mapping)]
    chosen = next((a for a in addresses if a.get("id") == primary), None) or next(
        iter(addresses), None
    )
    email = chosen.get("email_address") if chosen else None
    return IdentityUser(
        id=str(body["id"]),
        email=email if isinstance(email, str) else None,
        name=_name(body.get("first_name"), body.get("last_name"), body.get("username")),
    )


def _membership(org_id: str, body: Mapping[str, Any]) -> OrgMembership:
    user = body.get("public_user_data") or {}
    identifier = user.get("identifier")
    return OrgMembership(
        org_id=org_id,
        user_id=str(user["user_id"]),
        role=str(body["role"]),
        email=identifier if isinstance(identifier, str) and "@" in identifier else None,
        name=_name(user.get("first_name"), user.get("last_name")),
    )


class ClerkIdentityProvider(IdentityProvider):
    """Each call has a timeout. 429 is retried after `Retry-After` (when it asks for no more
    than `max_retry_after` seconds), 5xx and transport errors after a short backoff, at most
    `max_attempts` tries in all; then IDENTITY_PROVIDER_UNAVAILABLE. Clerk refusing our secret
    key (401) or the request (403: an organisation's membership quota reached) is also
    IDENTITY_PROVIDER_UNAVAILABLE: to the caller, Clerk is not usable for it. Clerk's own words
    travel in `details.provider_message`."""

    def __init__(
        self,
        *,
        base_url: str,
        secret_key: str,
        timeout: float = 5.0,
        max_attempts: int = 3,
        backoff: float = 0.2,
        max_retry_after: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/") + "/"
        self._secret_key = secret_key
        self._timeout = timeout
        self._retry_policy = RetryPolicy(
            attempts=max(1, max_attempts),
            backoff=backoff,
            max_retry_after=max_retry_after,
            over_max_retry_after="give up",
            retried=httpx.HTTPError,  # redirect loops too
        )
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self._base_url,
                headers={"Authorization": f"Bearer {self._secret_key}"},
                timeout=httpx.Timeout(self._timeout),
                transport=self._transport,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: httpx.QueryParams | None = None,
        json: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        return await self._retry_policy.send(
            lambda: self._http().request(method, path, params=params, json=json),
            failure=self._failed,
            log=log,
            where=f"clerk {method} {path}",
        )

    def _failed(
        self, last: httpx.HTTPError | httpx.Response, attempts: int
    ) -> IdentityProviderUnavailable:
        """What a call that failed (see `RetryPolicy.send`) is raised as."""
        if isinstance(last, httpx.HTTPError):  # timeouts, refused connections, resets, redirects
            return IdentityProviderUnavailable(
                "The identity provider did not answer in time."
                if isinstance(last, httpx.TimeoutException)
                else "The identity provider could not be reached.",
                details={"attempts": attempts},
            )
        if last.status_code == 429:
            return IdentityProviderUnavailable(
                "The identity provider is rate limiting us.",
                details={
                    "attempts": attempts,
                    RETRY_AFTER_SECONDS: math.ceil(self._retry_policy.wait_after(last, attempts)),
                },
            )
        if last.status_code == 401:
            return self._unavailable(last, attempts, "The identity provider refused our key.")
        if last.status_code == 403:  # the request, not the key: a membership quota
            return self._unavailable(last, attempts, "The identity provider refused the request.")
        return self._unavailable(last, attempts)

    @staticmethod
    def _unavailable(
        response: httpx.Response, attempts: int, message: str | None = None
    ) -> IdentityProviderUnavailable:
        error = _first_error(response)
        details: dict[str, Any] = {
            "status": response.status_code,
            "provider_code": error.get("code"),
            "attempts": attempts,
        }
        said = error.get("long_message") or error.get("message")
        if isinstance(said, str) and said:
            details["provider_message"] = said[:200]
        return IdentityProviderUnavailable(
            message or "The identity provider failed.", details=details
        )

    def _unexpected(self, response: httpx.Response) -> IdentityProviderUnavailable:
        return self._unavailable(response, 1, "The identity provider gave an unexpected answer.")

    def _read(self, response: httpx.Response, parse: Callable[[Any], T]) -> T:
        """A successful answer's body through `parse`; one that is not what Clerk documents
        (not JSON, a field missing or of another type) is the provider's failure, not ours."""
        try:
            return parse(json_body(response))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise self._unexpected(response) from error

    async def get_user(self, user_id: str) -> IdentityUser:
        response = await self._request("GET", f"users/{_segment(user_id)}")
        if response.status_code == 404:
            raise UserNotFound(details={"user_id": user_id})
        if response.status_code != 200:
            raise self._unexpected(response)
        return self._read(response, _user)

    async def list_memberships(
        self,
        org_id: str,
        *,
        limit: int = 100,
        offset: int = 0,
        user_ids: Collection[str] = (),
    ) -> MembershipPage:
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            raise ValueError("limit must be 1..500 and offset 0 or more")
        pairs: list[tuple[str, str | int | float | bool | None]] = [
            ("limit", limit),
            ("offset", offset),
            ("order_by", "+created_at"),
        ]
        pairs += [("user_id", u) for u in user_ids]
        response = await self._request(
            "GET", f"organizations/{_segment(org_id)}/memberships", params=httpx.QueryParams(pairs)
        )
        if response.status_code == 404:
            raise OrganizationNotFound(org_id)
        if response.status_code != 200:
            raise self._unexpected(response)
        return self._read(
            response,
            lambda body: MembershipPage(
                memberships=[_membership(org_id, m) for m in body["data"]],
                total=int(body["total_count"]),
            ),
        )

    async def create_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        response = await self._request(
            "POST",
            f"organizations/{_segment(org_id)}/memberships",
            json={"user_id": user_id, "role": role},
        )
        if response.status_code in (400, 409, 422) and (
            _first_error(response).get("code") == ALREADY_A_MEMBER
        ):
            raise MembershipAlreadyExists(f"{user_id} is already a member of {org_id}")
        if response.status_code == 404:
            # Clerk answers 404 `resource_not_found` both for a user and for an organisation
            # it does not know (either deleted there meanwhile): asking for the user tells
            # which (`UserNotFound` when it is the user).
            await self.get_user(user_id)
            raise OrganizationNotFound(org_id)
        if response.status_code != 200:
            raise self._unexpected(response)
        return self._read(response, lambda body: _membership(org_id, body))

    async def update_membership(self, org_id: str, user_id: str, role: str) -> OrgMembership:
        response = await self._request(
            "PATCH",
            f"organizations/{_segment(org_id)}/memberships/{_segment(user_id)}",
            json={"role": role},
        )
        if response.status_code == 404:
            raise MembershipNotFound(f"{user_id} is not a member of {org_id}")
        if response.status_code != 200:
            raise self._unexpected(response)
        return self._read(response, lambda body: _membership(org_id, body))

    async def delete_membership(self, org_id: str, user_id: str) -> None:
        response = await self._request(
            "DELETE", f"organizations/{_segment(org_id)}/memberships/{_segment(user_id)}"
        )
        if response.status_code == 404:
            raise MembershipNotFound(f"{user_id} is not a member of {org_id}")
        if response.status_code != 200:
            raise self._unexpected(response)
