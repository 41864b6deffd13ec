"""A local fake of Flagsmith, for contract tests of the Flagsmith adapter.

A real HTTP server on 127.0.0.1 (random port, a thread) that follows Flagsmith's API:

- `GET /api/v1/environment-document/` with `X-Environment-Key: ser....` (the server-side key):
  the environment document the SDK evaluates in local evaluation — `feature_states`, and
  `identity_overrides` (`[{"identifier", "identity_features": [featurestate...]}]`, the setting
  "use identity overrides in local evaluation" being on). A wrong key answers as Flagsmith's
  `EnvironmentKeyAuthentication` does: 403 `{"detail": "Invalid or missing Environment Key"}`.
- The Admin API's edge identity overrides by identifier,
  `PUT|DELETE /api/v1/environments/environments/{environment_key}/edge-identities-featurestates`
  (no trailing slash) with `Authorization: Api-Key <key>`: PUT `{"identifier", "feature" (name
  or id), "enabled", "feature_state_value"}` creates the identity if needed and answers 200 with
  the feature state; DELETE `{"identifier", "feature"}` answers 204, override or not. A wrong
  key: 401 `{"detail": "Valid Master API Key not found."}`; an environment key it does not
  know: 403, as the view's permission class refuses it; a project without Edge identities
  (`edge_identities=False`): 400 `{"detail": "Dynamo DB is not enabled for this project"}`.
  Values are kept as Flagsmith keeps them: a string, an integer or a boolean; a float
  becomes its string, an object or a list is refused (400, as the API's string field
  refuses it).
- Any other path: 404 with Django's HTML page, as Flagsmith's router answers.

Test controls: `fail_next(status, times)` (a 429 carries `Retry-After`), `hang_next(seconds,
times)` (answers 504 that late, after the client has given up, without handling the call),
`late_next(seconds, times)` (handles the call, then answers that late), each optionally only
for a method, a path containing some text, or a `User-Agent` containing some text (the SDK's
polls say `flagsmith-python-sdk`); `trail_writes()` serves the document as it stands until
`catch_up()` (Flagsmith's document trails its writes); `set_feature` and
`set_identity_override` change what Flagsmith holds as its dashboard would; `calls` records
every request.

`flagsmith_feature_flags(catalogue)` starts a fake holding every flag of the catalogue at its
default and yields a connected `FlagsmithFeatureFlags` with it. `running_fake_for(catalogue)`
starts such a fake alone (`stop()` it), for an adapter in another process configured from
`adapter_env()`.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from adapters.flagsmith.flags import FlagsmithFeatureFlags
from admin_core.flags.model import FlagCatalogue, FlagDefinition, FlagType
from tests.support.fake_http import FakeServer, Incoming, Reply

SERVER_KEY = "ser.fake_flagsmith_server_key"
ENVIRONMENT_KEY = "fakeFlagsmithEnvKey"
ADMIN_KEY = "fake_flagsmith_admin_key.secret"

#: A value as Flagsmith holds it.
Stored = str | int | bool | None


#: Django's answer to a path no route matches (HTML, not DRF's JSON).
NOT_FOUND_PAGE = "<!doctype html><title>Not Found</title><h1>Not Found</h1>"


@dataclass
class Feature:
    id: int
    name: str
    enabled: bool
    value: Stored
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Override:
    enabled: bool
    value: Stored
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Fault:
    status: int | None = None  # answer this error instead of handling the call
    hang: float = 0.0  # or answer 504 this many seconds late, without handling the call
    late: float = 0.0  # or handle the call, then answer this many seconds late
    retry_after: str | None = None
    method: str | None = None
    path: str | None = None  # only calls whose path contains this
    user_agent: str | None = None  # only calls whose User-Agent contains this

    def matches(self, method: str, path: str, user_agent: str) -> bool:
        return (
            self.method in (None, method)
            and (self.path is None or self.path in path)
            and (self.user_agent is None or self.user_agent in user_agent)
        )


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any
    user_agent: str


def encoded_default(definition: FlagDefinition) -> tuple[bool, Stored]:
    """The catalogue's default as Flagsmith holds it: (`enabled`, `feature_state_value`)."""
    default = definition.default
    if definition.type is FlagType.BOOL:
        return bool(default), None
    if definition.type is FlagType.FLOAT:
        return True, str(float(default))
    if definition.type is FlagType.JSON:
        return True, json.dumps(default)
    return True, default


@dataclass
class FakeFlagsmith:
    server_key: str = SERVER_KEY
    environment_key: str = ENVIRONMENT_KEY
    admin_key: str = ADMIN_KEY
    features: dict[str, Feature] = field(default_factory=dict)
    overrides: dict[str, dict[str, Override]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    released: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    server: FakeServer | None = field(default=None, repr=False)
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: The document served while writes are trailed (`trail_writes`); None: the current one.
    trailing: dict[str, Any] | None = None
    #: Whether the project has Edge identities (SaaS); without them, the edge identity
    #: endpoints answer 400 "Dynamo DB is not enabled for this project".
    edge_identities: bool = True
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def api_url(self) -> str:
        """The SDK API (`edge.api.flagsmith.com/api/v1/` in SaaS)."""
        return f"{self.url}/api/v1/"

    @property
    def admin_api_url(self) -> str:
        """The Admin API (`api.flagsmith.com/api/v1/` in SaaS); the same server here."""
        return f"{self.url}/api/v1/"

    # --- test controls -------------------------------------------------------------------

    def set_feature(self, name: str, *, enabled: bool = True, value: Stored = None) -> None:
        """Create or change a feature's environment state."""
        with self.lock:
            feature = self.features.get(name)
            if feature is None:
                self.features[name] = Feature(next(self._ids), name, enabled, value)
            else:
                feature.enabled, feature.value = enabled, value
            self._changed()

    def set_identity_override(
        self, identifier: str, feature: str, *, enabled: bool = True, value: Stored = None
    ) -> None:
        """Override a feature for an identity, as the dashboard would."""
        with self.lock:
            self.overrides.setdefault(identifier, {})[feature] = Override(enabled, value)
            self._changed()

    def remove_identity_override(self, identifier: str, feature: str) -> None:
        with self.lock:
            self.overrides.get(identifier, {}).pop(feature, None)
            self._changed()

    def override_of(self, identifier: str, feature: str) -> tuple[bool, Stored] | None:
        """(`enabled`, `feature_state_value`) of the identity's override, None without one."""
        with self.lock:
            held = self.overrides.get(identifier, {}).get(feature)
            return None if held is None else (held.enabled, held.value)

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        retry_after: str | None = None,
        method: str | None = None,
        path: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        """The next `times` matching calls answer `status` (a 429 with `Retry-After`, "1"
        unless given)."""
        if status == 429 and retry_after is None:
            retry_after = "1"
        with self.lock:
            self.faults.extend(
                Fault(
                    status=status,
                    retry_after=retry_after,
                    method=method,
                    path=path,
                    user_agent=user_agent,
                )
                for _ in range(times)
            )

    def hang_next(
        self,
        seconds: float,
        times: int = 1,
        *,
        method: str | None = None,
        path: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        """The next `times` matching calls are answered `seconds` late, with a 504 and
        without being handled."""
        with self.lock:
            self.faults.extend(
                Fault(hang=seconds, method=method, path=path, user_agent=user_agent)
                for _ in range(times)
            )

    def late_next(
        self, seconds: float, times: int = 1, *, method: str | None = None, path: str | None = None
    ) -> None:
        """The next `times` matching calls are handled, then answered `seconds` late (after a
        client with a shorter timeout has given up)."""
        with self.lock:
            self.faults.extend(Fault(late=seconds, method=method, path=path) for _ in range(times))

    def trail_writes(self) -> None:
        """Serve the document as it stands now, whatever is written, until `catch_up()`."""
        with self.lock:
            self.trailing = self.document()

    def catch_up(self) -> None:
        with self.lock:
            self.trailing = None

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def adapter_env(self) -> dict[str, str]:
        """The adapter's settings for a process of its own (`ADMIN_TEST_FLAGSMITH_*`)."""
        return {
            "ADMIN_TEST_FLAGSMITH_API_URL": self.api_url,
            "ADMIN_TEST_FLAGSMITH_SERVER_KEY": self.server_key,
            "ADMIN_TEST_FLAGSMITH_ADMIN_API_URL": self.admin_api_url,
            "ADMIN_TEST_FLAGSMITH_ADMIN_KEY": self.admin_key,
            "ADMIN_TEST_FLAGSMITH_ENVIRONMENT_KEY": self.environment_key,
        }

    def stop(self) -> None:
        """Stop serving (a hung call is answered at once)."""
        self.released.set()
        if self.server is not None:
            self.server.stop()
            self.server = None

    def calls_to(self, method: str, path_part: str, *, user_agent: str | None = None) -> int:
        with self.lock:
            return sum(
                1
                for c in self.calls
                if c.method == method
                and path_part in c.path
                and (user_agent is None or user_agent in c.user_agent)
            )

    # --- the API ---------------------------------------------------------------------------

    def _changed(self) -> None:
        self.updated_at = datetime.now(UTC)

    def _take_fault(self, method: str, path: str, user_agent: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path, user_agent):
                self.faults.remove(fault)
                return fault
        return None

    def _feature_state(
        self, feature: Feature, enabled: bool, value: Stored, fs_uuid: str
    ) -> dict[str, Any]:
        return {
            "feature": {"id": feature.id, "name": feature.name, "type": "STANDARD"},
            "enabled": enabled,
            "feature_state_value": value,
            "featurestate_uuid": fs_uuid,
            "django_id": None,
            "feature_segment": None,
            "multivariate_feature_state_values": [],
        }

    def document(self) -> dict[str, Any]:
        """The environment document, as `GET /api/v1/environment-document/` serves it."""
        identity_overrides = []
        for identifier, held in self.overrides.items():
            states = [
                self._feature_state(self.features[name], o.enabled, o.value, o.uuid)
                for name, o in held.items()
                if name in self.features
            ]
            if states:
                identity_overrides.append(
                    {
                        "identifier": identifier,
                        "identity_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, identifier)),
                        "environment_api_key": self.environment_key,
                        "identity_features": states,
                        "identity_traits": [],
                    }
                )
        return {
            "id": 1,
            "api_key": self.environment_key,
            "name": "Fake",
            "project": {
                "id": 1,
                "name": "Admin Core",
                "organisation": {"id": 1, "name": "Fake", "persist_trait_data": True},
                "hide_disabled_flags": False,
                "segments": [],
            },
            "feature_states": [
                self._feature_state(f, f.enabled, f.value, f.uuid) for f in self.features.values()
            ],
            "identity_overrides": identity_overrides,
            "updated_at": self.updated_at.isoformat(),
        }

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: Any
    ) -> tuple[int, Any]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts == ["api", "v1", "environment-document"]:
            if method != "GET":
                return 405, {"detail": f'Method "{method}" not allowed.'}
            key = headers.get("x-environment-key") or ""
            if not key.startswith("ser."):
                return 403, {"detail": "Invalid or missing Environment key"}
            if key != self.server_key:
                return 403, {"detail": "Invalid or missing Environment Key"}
            return 200, self.document() if self.trailing is None else self.trailing
        if (
            len(parts) == 6
            and parts[:4] == ["api", "v1", "environments", "environments"]
            and parts[5] == "edge-identities-featurestates"
        ):
            authorization = headers.get("authorization")
            if not authorization:
                return 401, {"detail": "Authentication credentials were not provided."}
            if authorization != f"Api-Key {self.admin_key}":
                return 401, {"detail": "Valid Master API Key not found."}
            if parts[4] != self.environment_key:
                return 403, {"detail": "You do not have permission to perform this action."}
            if not self.edge_identities:
                return 400, {"detail": "Dynamo DB is not enabled for this project"}
            if method == "PUT":
                return self._put(body)
            if method == "DELETE":
                return self._delete(body)
            return 405, {"detail": f'Method "{method}" not allowed.'}
        return 404, NOT_FOUND_PAGE

    def _feature(self, body: Mapping[str, Any]) -> Feature | None:
        wanted = body.get("feature")
        for feature in self.features.values():
            if (isinstance(wanted, int) and feature.id == wanted) or feature.name == wanted:
                return feature
        return None

    def _put(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 400, {"non_field_errors": ["Invalid data. Expected a dictionary."]}
        identifier = body.get("identifier")
        if not isinstance(identifier, str) or not identifier:
            return 400, {"identifier": ["This field is required."]}
        feature = self._feature(body)
        if feature is None:
            # The real API's answer to an unknown feature is not documented; the fake refuses.
            return 400, {"feature": ["Feature does not exist."]}
        value = body.get("feature_state_value")
        if isinstance(value, float):
            value = str(value)
        if not (value is None or isinstance(value, str | int)):
            return 400, {"feature_state_value": ["Not a valid string."]}
        enabled = body.get("enabled", False)
        if not isinstance(enabled, bool):
            return 400, {"enabled": ["Must be a valid boolean."]}
        held = self.overrides.setdefault(identifier, {})
        override = held.get(feature.name)
        if override is None:
            override = held[feature.name] = Override(enabled, value)
        else:
            override.enabled, override.value = enabled, value
        self._changed()
        return 200, {
            "feature_state_value": value,
            "feature": feature.id,
            "multivariate_feature_state_values": [],
            "enabled": enabled,
            "featurestate_uuid": override.uuid,
            "identity_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, identifier)),
        }

    def _delete(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("identifier"), str):
            return 400, {"identifier": ["This field is required."]}
        feature = self._feature(body)
        held = self.overrides.get(body["identifier"])
        if feature is not None and held is not None and held.pop(feature.name, None) is not None:
            self._changed()
        return 204, None


def _respond(fake: FakeFlagsmith) -> Callable[[Incoming], Reply]:
    def respond(incoming: Incoming) -> Reply:
        body = incoming.json()
        user_agent = incoming.headers.get("user-agent", "")
        with fake.lock:
            fake.calls.append(Call(incoming.method, incoming.path, body, user_agent))
            fault = fake._take_fault(incoming.method, incoming.path, user_agent)
        if fault is not None and fault.hang:
            fake.released.wait(fault.hang)
            return Reply(504, {"detail": "injected hang"})
        if fault is not None and fault.status is not None:
            retry = {"retry-after": fault.retry_after} if fault.retry_after is not None else {}
            return Reply(fault.status, {"detail": f"injected {fault.status}"}, retry)
        with fake.lock:
            status, answer = fake.handle(incoming.method, incoming.path, incoming.headers, body)
        if fault is not None and fault.late:
            fake.released.wait(fault.late)
        if isinstance(answer, str):
            return Reply(status, answer, content_type="text/html")
        return Reply(status, answer)

    return respond


def start_fake_flagsmith(
    features: Mapping[str, tuple[bool, Stored]] | None = None,
) -> FakeFlagsmith:
    """A fake started on a free port, holding `features` (name → (enabled, value)); `stop()`
    it."""
    fake = FakeFlagsmith()
    for name, (enabled, value) in (features or {}).items():
        fake.set_feature(name, enabled=enabled, value=value)
    fake.server = FakeServer(_respond(fake), name="flagsmith")
    fake.url = fake.server.url
    return fake


def catalogue_features(catalogue: FlagCatalogue) -> dict[str, tuple[bool, Stored]]:
    """Every flag of the catalogue at its default, as Flagsmith holds it."""
    return {name: encoded_default(d) for name, d in catalogue.definitions.items()}


def running_fake_for(catalogue: FlagCatalogue) -> FakeFlagsmith:
    """A started fake holding every catalogue flag at its default; `stop()` it. For a test
    whose adapter runs in another process (`adapter_env`)."""
    return start_fake_flagsmith(catalogue_features(catalogue))


@contextmanager
def running_fake_flagsmith(
    features: Mapping[str, tuple[bool, Stored]] | None = None,
) -> Iterator[FakeFlagsmith]:
    """A started fake holding `features` (name → (enabled, value)), stopped after."""
    fake = start_fake_flagsmith(features)
    try:
        yield fake
    finally:
        fake.stop()


@asynccontextmanager
async def flagsmith_feature_flags(
    catalogue: FlagCatalogue, **adapter_options: Any
) -> AsyncIterator[tuple[FlagsmithFeatureFlags, FakeFlagsmith]]:
    """A fake holding every catalogue flag at its default, and an adapter connected to it
    (refreshing every 0.2 s, 2 s timeouts, one retry — each overridable, as are the keys and
    URLs). The adapter is closed after."""
    with running_fake_flagsmith(catalogue_features(catalogue)) as fake:
        options: dict[str, Any] = {
            "api_url": fake.api_url,
            "server_key": fake.server_key,
            "admin_api_url": fake.admin_api_url,
            "admin_key": fake.admin_key,
            "environment_key": fake.environment_key,
            "refresh_seconds": 0.2,
            "timeout": 2.0,
            "retries": 1,
        }
        options.update(adapter_options)
        adapter = FlagsmithFeatureFlags(catalogue=catalogue, **options)
        try:
            yield adapter, fake
        finally:
            await adapter.aclose()
