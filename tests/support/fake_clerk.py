"""A local fake of Clerk's Backend API, for contract tests of the Clerk adapter.

A real HTTP server on 127.0.0.1 (random port, a thread) that follows the documented API:
`GET /v1/users/{user_id}`, `GET|POST /v1/organizations/{org_id}/memberships`,
`PATCH|DELETE /v1/organizations/{org_id}/memberships/{user_id}`; `Authorization: Bearer sk_...`
(401 otherwise); errors as `{"errors": [{"code", "message", "long_message"}]}`; `limit`
(1..500, default 10) / `offset` pagination with `total_count`; 429 with `Retry-After`;
`GET /v1/jwks`, the instance's session-token signing keys (`{"keys": [...]}`), behind the same
secret key (`publish_key(jwk)` adds one; `jwks_url` is its address).

Organisations exist once named, until `remove_org` deletes one the way Clerk does: its
memberships go with it, and every call on it answers 404 `resource_not_found` (a create
naming it as well as one naming an unknown user: Clerk's 404 does not say which is missing).
`remove_user` deletes a user and their memberships. `membership_limit` caps the memberships
of an organisation as Clerk's plans do: a create past it answers 403
`organization_membership_quota_exceeded`.

Test controls: `fail_next(status, times)` answers the next calls with an error (a 429 carries
`Retry-After`), `delay_next(seconds, times)` answers late — after applying a write, the way a
timed-out request can still have gone through.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from tests.support.fake_http import FakeServer, Incoming, Reply

SECRET_KEY = "sk_test_fake_clerk_secret"


@dataclass
class FakeUser:
    id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None


@dataclass
class Fault:
    status: int | None = None  # answer with this error instead of handling the call
    delay: float = 0.0  # answer this late (writes are applied first)
    retry_after: int = 1
    method: str | None = None  # only calls with this method; None: any call


@dataclass
class FakeClerk:
    secret_key: str = SECRET_KEY
    users: dict[str, FakeUser] = field(default_factory=dict)
    memberships: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    url: str = ""
    jwks_keys: list[dict[str, Any]] = field(default_factory=list)
    removed_orgs: set[str] = field(default_factory=set)
    #: Memberships an organisation may hold (Clerk's plans limit them); None: no limit.
    membership_limit: int | None = None

    @property
    def jwks_url(self) -> str:
        """Where Clerk's Backend API serves the JWKS (`ADMIN_CLERK_JWKS_URL`)."""
        return f"{self.url}/jwks"

    # --- test controls -------------------------------------------------------------------

    def publish_key(self, jwk: Mapping[str, Any]) -> None:
        """Serve this public JWK (e.g. `SigningKey.jwk()`) from `GET /v1/jwks`."""
        with self.lock:
            self.jwks_keys.append(dict(jwk))

    def add_user(
        self,
        user_id: str,
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> None:
        with self.lock:
            self.users[user_id] = FakeUser(user_id, email, first_name, last_name)

    def remove_org(self, org_id: str) -> None:
        """Delete the organisation, with its memberships."""
        with self.lock:
            self.removed_orgs.add(org_id)
            self.memberships.pop(org_id, None)

    def remove_user(self, user_id: str) -> None:
        """Delete the user, with their memberships."""
        with self.lock:
            self.users.pop(user_id, None)
            for members in self.memberships.values():
                members.pop(user_id, None)

    def fail_next(
        self, status: int, times: int = 1, retry_after: int = 1, method: str | None = None
    ) -> None:
        """The next `times` calls (of `method`, if given) answer `status`."""
        with self.lock:
            self.faults.extend(
                Fault(status=status, retry_after=retry_after, method=method) for _ in range(times)
            )

    def delay_next(self, seconds: float, times: int = 1, method: str | None = None) -> None:
        """The next `times` calls (of `method`, if given) answer `seconds` late."""
        with self.lock:
            self.faults.extend(Fault(delay=seconds, method=method) for _ in range(times))

    def take_fault(self, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.method in (None, method):
                self.faults.remove(fault)
                return fault
        return None

    def role_of(self, org_id: str, user_id: str) -> str | None:
        with self.lock:
            membership = self.memberships.get(org_id, {}).get(user_id)
            return str(membership["role"]) if membership else None

    def calls_of(self, method: str) -> int:
        with self.lock:
            return sum(1 for m, _ in self.calls if m == method)

    # --- the API ---------------------------------------------------------------------------

    def _user_json(self, user: FakeUser) -> dict[str, Any]:
        email_id = f"idn_{user.id}"
        return {
            "object": "user",
            "id": user.id,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "username": None,
            "primary_email_address_id": email_id if user.email else None,
            "email_addresses": [
                {"object": "email_address", "id": email_id, "email_address": user.email}
            ]
            if user.email
            else [],
            "created_at": 1_700_000_000_000,
            "updated_at": 1_700_000_000_000,
        }

    def _membership_json(self, org_id: str, user: FakeUser, role: str) -> dict[str, Any]:
        now = int(time.time() * 1000)
        return {
            "object": "organization_membership",
            "id": f"orgmem_{next(self._ids):06d}",
            "role": role,
            "permissions": [],
            "public_metadata": {},
            "private_metadata": {},
            "organization": {"object": "organization", "id": org_id, "name": org_id},
            "public_user_data": {
                "user_id": user.id,
                "first_name": user.first_name,
                "last_name": user.last_name,
                "identifier": user.email or user.id,
                "image_url": "",
                "has_image": False,
            },
            "created_at": now,
            "updated_at": now,
        }

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any]]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:1] != ["v1"]:
            return _error(404, "resource_not_found", "not found")
        parts = parts[1:]
        if method == "GET" and parts == ["jwks"]:
            return 200, {"keys": [dict(k) for k in self.jwks_keys]}
        if method == "GET" and len(parts) == 2 and parts[0] == "users":
            user = self.users.get(parts[1])
            if user is None:
                return _error(404, "resource_not_found", "No user was found with id " + parts[1])
            return 200, self._user_json(user)
        if len(parts) >= 3 and parts[0] == "organizations" and parts[2] == "memberships":
            org_id = parts[1]
            if org_id in self.removed_orgs:
                return _error(404, "resource_not_found", "not found")
            members = self.memberships.setdefault(org_id, {})
            if len(parts) == 3 and method == "GET":
                return self._list(members, query)
            if len(parts) == 3 and method == "POST":
                return self._create(org_id, members, body or {})
            if len(parts) == 4 and method == "PATCH":
                member = members.get(parts[3])
                if member is None:
                    return _error(404, "resource_not_found", "not found")
                role = (body or {}).get("role")
                if not isinstance(role, str) or not role:
                    return _error(422, "form_param_missing", "role is missing")
                member["role"] = role
                member["updated_at"] = int(time.time() * 1000)
                return 200, member
            if len(parts) == 4 and method == "DELETE":
                member = members.pop(parts[3], None)
                if member is None:
                    return _error(404, "resource_not_found", "not found")
                return 200, member
        return _error(404, "resource_not_found", "not found")

    def _list(
        self, members: dict[str, dict[str, Any]], query: dict[str, list[str]]
    ) -> tuple[int, dict[str, Any]]:
        try:
            limit = int(query.get("limit", ["10"])[-1])
            offset = int(query.get("offset", ["0"])[-1])
        except ValueError:
            return _error(422, "form_param_format_invalid", "limit and offset must be integers")
        if not 1 <= limit <= 500 or offset < 0:
            return _error(422, "form_param_value_invalid", "limit must be 1..500, offset >= 0")
        rows = list(members.values())
        wanted = query.get("user_id")
        if wanted:
            rows = [m for m in rows if m["public_user_data"]["user_id"] in wanted]
        order = query.get("order_by", ["-created_at"])[-1]
        if order not in ("+created_at", "-created_at", "created_at"):
            return _error(422, "form_param_value_invalid", f"order_by {order!r} is not valid")
        if order == "-created_at":
            rows.reverse()
        return 200, {"data": rows[offset : offset + limit], "total_count": len(rows)}

    def _create(
        self, org_id: str, members: dict[str, dict[str, Any]], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        user_id, role = body.get("user_id"), body.get("role")
        if not isinstance(user_id, str) or not isinstance(role, str) or not role:
            return _error(422, "form_param_missing", "user_id and role are required")
        user = self.users.get(user_id)
        if user is None:
            return _error(404, "resource_not_found", "No user was found with id " + user_id)
        if user_id in members:
            return _error(400, "already_a_member_in_organization", "The user is already a member")
        if self.membership_limit is not None and len(members) >= self.membership_limit:
            return _error(
                403,
                "organization_membership_quota_exceeded",
                f"You have reached your limit of {self.membership_limit} organization "
                "memberships, including outstanding invitations.",
            )
        members[user_id] = self._membership_json(org_id, user, role)
        return 200, members[user_id]


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"errors": [{"code": code, "message": message, "long_message": message}]}


def _respond(fake: FakeClerk) -> Callable[[Incoming], Reply]:
    def respond(incoming: Incoming) -> Reply:
        if incoming.headers.get("authorization") != f"Bearer {fake.secret_key}":
            return Reply(*_error(401, "authentication_invalid", "Invalid authentication"))
        with fake.lock:
            fake.calls.append((incoming.method, incoming.path))
            fault = fake.take_fault(incoming.method)
            if fault is not None and fault.status is not None:
                status, body = _error(fault.status, "injected", f"injected {fault.status}")
                retry = {"retry-after": str(fault.retry_after)} if fault.status == 429 else {}
                return Reply(status, body, retry)
            status, body = fake.handle(
                incoming.method, incoming.path, parse_qs(incoming.query), incoming.json()
            )
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        return Reply(status, body)

    return respond


@contextmanager
def running_fake_clerk() -> Iterator[FakeClerk]:
    """Start the fake on a free port; `fake.url` is the base URL (`.../v1`)."""
    fake = FakeClerk()
    server = FakeServer(_respond(fake), name="clerk")
    fake.url = f"{server.url}/v1"
    try:
        yield fake
    finally:
        server.stop()
