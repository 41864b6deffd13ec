"""Flagsmith as the flag provider (docs/adr/0049).

Reads go through the official SDK in local evaluation: it fetches the environment document
(`GET {api_url}environment-document/`, server-side key) and fetches it again every
`refresh_seconds` in a thread of its own; flags are evaluated in process. The environment's
values are the SDK's environment flags; a tenant's overrides are the flags of its identity that
an identity override decided (reason `TARGETING_MATCH; segment=identity_overrides`, which the
SDK gives only to the `identity_overrides` of the document), so an override equal to the
default is still an override. `overrides` fetches the document itself: what Flagsmith holds now.

Writes go through the Admin API, one identity override by identifier: `PUT|DELETE
{admin_api_url}environments/environments/{environment_key}/edge-identities-featurestates`
with `Authorization: Api-Key <admin key>`. A write is shown to this process at once: it is
laid over the identity's overrides until the SDK polls a document after it that agrees (or,
at the latest, for `trail_seconds`, by default `max(60 s, 6 refreshes)`), since the document
Flagsmith serves trails its writes. A write that got no answer, or an error that does not say
it was not made (a timeout, a 5xx), may have been made all the same: until the document can
show it (`trail_seconds` after it was sent), `overrides` of that identity is FLAGS_UNAVAILABLE
rather than an answer that may miss it.

Values: Flagsmith holds a string, an integer or a boolean (and null). A bool flag is the
feature's `enabled`; int is an integer; float is its decimal string; string is a string; json is
its JSON text. A value that does not read as its flag's type is left out (and logged): the
catalogue's default stands in for it.

Every failure of Flagsmith is FLAGS_UNAVAILABLE, with `details` such as `{"status": 503}`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote

import httpx
from flagsmith import Flagsmith
from flagsmith.exceptions import FlagsmithClientError
from urllib3 import Retry

from adapters.http.answers import json_body
from adapters.http.retry import RetryPolicy
from admin_core.flags.errors import FlagsUnavailable, FlagValueInvalid
from admin_core.flags.model import FlagCatalogue, FlagDefinition, FlagState, FlagType
from admin_core.flags.overrides import same_value
from admin_core.flags.ports import FeatureFlags
from admin_core.kernel.errors import RETRY_AFTER_SECONDS, FieldError
from admin_core.kernel.json_text import finite_number, no_constant, read_json
from admin_core.kernel.loops import LoopLock

log = logging.getLogger("admin_core.flagsmith")

#: The reason the SDK gives a flag an identity override decided.
OVERRIDE_REASON = "TARGETING_MATCH; segment=identity_overrides"
#: First wait before a retry (doubled each time), and the longest `Retry-After` honoured by
#: default (`max_retry_after`).
BACKOFF = 0.1
MAX_RETRY_AFTER = 5.0
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DOCUMENT_PATH = "/environment-document/"


class Unreadable(ValueError):
    """A value Flagsmith holds that is not a value of its flag's type."""


def decode(definition: FlagDefinition | None, enabled: Any, value: Any) -> Any:
    """Our value of a feature Flagsmith holds as (`enabled`, `value`); raises `Unreadable`
    for anything else it may hold (a dashboard or another client writes what it likes)."""
    if definition is None:
        return enabled if value is None else value
    read = _READERS[definition.type](enabled, value)
    if read is _UNREADABLE:
        raise Unreadable(f"{value!r:.100} is not a {definition.type.value}")
    return read


#: What a reader of `_READERS` answers for a value that is not one of its type.
_UNREADABLE = object()


def _read_bool(enabled: Any, _value: Any) -> Any:
    return enabled if isinstance(enabled, bool) else _UNREADABLE


def _read_int(_enabled: Any, value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    return _UNREADABLE


def _read_float(_enabled: Any, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return _UNREADABLE
    try:
        number = float(value)
    except (ValueError, OverflowError):  # not a number; an integer beyond a float
        return _UNREADABLE
    return number if math.isfinite(number) else _UNREADABLE


def _read_string(_enabled: Any, value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # a dashboard types "true" as a boolean
        return "true" if value else "false"
    if isinstance(value, int):  # ... and "12" as an integer
        return str(value)
    return _UNREADABLE


def _read_json(_enabled: Any, value: Any) -> Any:
    if isinstance(value, bool | int | float):
        return value
    if not isinstance(value, str):
        return _UNREADABLE
    try:
        return read_json(value, parse_constant=no_constant, parse_float=finite_number)
    except ValueError:  # not JSON; nested deeper than the parser goes
        return _UNREADABLE


_READERS: dict[FlagType, Callable[[Any, Any], Any]] = {
    FlagType.BOOL: _read_bool,
    FlagType.INT: _read_int,
    FlagType.FLOAT: _read_float,
    FlagType.STRING: _read_string,
    FlagType.JSON: _read_json,
}


def encode(definition: FlagDefinition | None, value: Any) -> tuple[bool, str | int | None]:
    """(`enabled`, `feature_state_value`) holding `value` in Flagsmith; raises
    FLAG_VALUE_INVALID when `value` is not of the flag's type. A flag outside the catalogue is
    encoded by the type of `value`."""
    kind = definition.type if definition is not None else None
    if kind is FlagType.BOOL or (kind is None and isinstance(value, bool)):
        if not isinstance(value, bool):
            raise _invalid("must be true or false")
        return value, None
    if kind is FlagType.INT or (kind is None and isinstance(value, int)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise _invalid("must be a whole number")
        return True, value
    if kind is FlagType.FLOAT or (kind is None and isinstance(value, float)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise _invalid("must be a number")
        return True, repr(float(value))
    if kind is FlagType.STRING or (kind is None and isinstance(value, str)):
        if not isinstance(value, str):
            raise _invalid("must be a string")
        return True, value
    try:
        return True, json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        raise _invalid("must be a JSON value") from None


def _invalid(message: str) -> FlagValueInvalid:
    return FlagValueInvalid([FieldError(field="value", message=message)])


def _provider_message(response: httpx.Response) -> str | None:
    """Flagsmith's own words about a refusal (`{"detail": ...}` or field errors), shortened."""
    try:
        body = json_body(response)
    except ValueError:
        return None
    text = body.get("detail") if isinstance(body, Mapping) else None
    if text is None and body:
        text = json.dumps(body)
    return str(text)[:200] if text is not None else None


@dataclass(frozen=True, slots=True)
class _Write:
    """An override this process wrote: its value (or a clear) and when Flagsmith took it."""

    value: Any
    cleared: bool
    at: float


class _Document:
    """The SDK's offline handler: the document fetched before the SDK started, so the SDK
    never evaluates without one (it would otherwise call Flagsmith for every flag)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._document = document

    def get_environment(self) -> Any:
        return self._document


#: How long closing waits for the SDK's poller thread to end (a fetch in flight may hold it).
POLLER_STOP_S = 1.0


class FlagsmithFeatureFlags(FeatureFlags):
    """Flagsmith through its SDK (reads) and its Admin API (writes). No network I/O before the
    first call; the SDK starts then, off the event loop. Each HTTP call has `timeout`;
    connection errors, timeouts, 5xx and 429 are tried again `retries` times (after a backoff,
    or `Retry-After` capped at `max_retry_after`, by default 5 s), then FLAGS_UNAVAILABLE, as
    is a refused key or any other unexpected answer. `state` is marked `stale` when the SDK
    has not fetched the document for two refreshes plus the time its fetches may take."""

    def __init__(
        self,
        *,
        catalogue: FlagCatalogue,
        api_url: str,
        server_key: str,
        admin_api_url: str,
        admin_key: str,
        environment_key: str,
        refresh_seconds: float = 10.0,
        timeout: float = 5.0,
        retries: int = 2,
        trail_seconds: float | None = None,
        max_retry_after: float = MAX_RETRY_AFTER,
    ) -> None:
        if not server_key.startswith("ser."):
            raise ValueError("local evaluation needs Flagsmith's server-side key ('ser.…')")
        if refresh_seconds <= 0 or timeout <= 0 or retries < 0:
            raise ValueError("refresh_seconds and timeout must be positive, retries 0 or more")
        if trail_seconds is not None and trail_seconds <= 0:
            raise ValueError("trail_seconds must be positive")
        if not max_retry_after > 0:  # NaN too
            raise ValueError("max_retry_after must be positive")
        self._catalogue = catalogue
        self._api_url = _with_slash(api_url)
        self._document_url = self._api_url + _DOCUMENT_PATH.lstrip("/")
        self._server_key = server_key
        self._overrides_url = (
            _with_slash(admin_api_url)
            + f"environments/environments/{quote(environment_key, safe='')}"
            + "/edge-identities-featurestates"
        )
        self._admin_key = admin_key
        self._refresh = refresh_seconds
        self._timeout = timeout
        self._retries = retries
        self._retry_policy = RetryPolicy(
            attempts=retries + 1,
            backoff=BACKOFF,
            max_retry_after=max_retry_after,
            over_max_retry_after="cap",
        )
        self._stale_after = 2 * refresh_seconds + (retries + 1) * timeout + 1.0
        #: How long the document Flagsmith serves may trail a write.
        self._trail = max(60.0, 6 * refresh_seconds) if trail_seconds is None else trail_seconds
        self._sdk: Flagsmith | None = None
        self._starting = LoopLock()
        self._http_client: httpx.AsyncClient | None = None
        #: When the document the SDK holds was fetched (`time.monotonic`, start of the request).
        self._fetched_at = 0.0
        self._writes: dict[str, dict[str, _Write]] = {}
        #: Identity → when the latest write to it that may have been made unanswered was sent.
        self._unanswered: dict[str, float] = {}
        self._warned: set[tuple[str, str]] = set()
        self._closed = False

    # --- the port ----------------------------------------------------------------------------

    async def state(self, identity: str) -> FlagState:
        sdk = await self._started()
        fetched_at = self._fetched_at
        environment, overrides = await asyncio.to_thread(self._evaluate, sdk, identity)
        return FlagState(
            environment=environment,
            overrides=self._with_writes(identity, overrides, fetched_at),
            stale=time.monotonic() - fetched_at > self._stale_after,
        )

    async def overrides(self, identity: str) -> Mapping[str, Any]:
        self._check_answered(identity)
        document = await self._document()
        return self._with_writes(identity, self._held_by(document, identity), None)

    async def set_override(self, identity: str, flag: str, value: Any) -> None:
        definition = self._catalogue.definitions.get(flag)
        enabled, stored = encode(definition, value)
        response = await self._write(
            "PUT",
            identity,
            {
                "identifier": identity,
                "feature": flag,
                "enabled": enabled,
                "feature_state_value": stored,
            },
        )
        if not response.is_success:
            raise self._unexpected(response)
        written = decode(definition, enabled, stored)
        self._remember(identity, flag, _Write(written, cleared=False, at=time.monotonic()))

    async def clear_override(self, identity: str, flag: str) -> None:
        response = await self._write("DELETE", identity, {"identifier": identity, "feature": flag})
        # A Flagsmith that does not know the identity yet (older versions) holds nothing: its
        # view answers 404 with DRF's `{"detail": ...}`. Any other 404 (a wrong URL) is not
        # an answer about the identity.
        if not response.is_success and not _identity_not_found(response):
            raise self._unexpected(response)
        self._remember(identity, flag, _Write(None, cleared=True, at=time.monotonic()))

    async def aclose(self) -> None:
        self._closed = True
        sdk, self._sdk = self._sdk, None
        if sdk is not None:  # its poller's thread ended, unless a fetch holds it past the wait
            await asyncio.to_thread(_stop, sdk, wait=POLLER_STOP_S)
        if self._http_client is not None:
            await self._http_client.aclose()
            self._http_client = None

    # --- the SDK -----------------------------------------------------------------------------

    async def _started(self) -> Flagsmith:
        if self._sdk is not None:
            return self._sdk
        self._check_open()
        async with self._starting:
            if self._sdk is None:
                fetched_at = time.monotonic()
                document = await self._document()
                sdk = await self._start(document)
                if self._closed_meanwhile():
                    _stop(sdk)
                    raise FlagsUnavailable("The Flagsmith client is closed.")
                self._sdk = sdk
                self._fetched_at = max(self._fetched_at, fetched_at)
        return self._sdk

    async def _start(self, document: Mapping[str, Any]) -> Flagsmith:
        """The SDK, built in a thread: its constructor fetches the document once more. If that
        takes longer than its own timeouts allow, FLAGS_UNAVAILABLE (and the SDK, once built,
        is stopped)."""
        building = asyncio.ensure_future(asyncio.to_thread(self._build, document))
        deadline = (self._retries + 1) * (self._timeout + 1.0) + 1.0
        try:
            return await asyncio.wait_for(asyncio.shield(building), deadline)
        except TimeoutError:
            building.add_done_callback(_stop_when_built)
            raise FlagsUnavailable(
                "The Flagsmith SDK did not start in time.", details={"seconds": deadline}
            ) from None
        except asyncio.CancelledError:
            building.add_done_callback(_stop_when_built)
            raise

    def _build(self, document: Mapping[str, Any]) -> Flagsmith:
        try:
            sdk = Flagsmith(
                environment_key=self._server_key,
                api_url=self._api_url,
                enable_local_evaluation=True,
                environment_refresh_interval_seconds=self._refresh,
                # requests takes float seconds; the SDK's annotation says int.
                request_timeout_seconds=cast(int, self._timeout),
                retries=Retry(total=self._retries, backoff_factor=BACKOFF, status=0),
                offline_handler=_Document(document),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise FlagsUnavailable(
                "Flagsmith's environment document cannot be read by its SDK."
            ) from error
        sdk.session.hooks["response"].append(self._fetched)
        return sdk

    def _fetched(self, response: Any, *args: Any, **kwargs: Any) -> None:
        """A response hook on the SDK's session: notes when the document it polls was fetched."""
        if response.status_code == 200 and str(response.url).endswith(_DOCUMENT_PATH):
            self._fetched_at = time.monotonic() - response.elapsed.total_seconds()

    def _evaluate(self, sdk: Flagsmith, identity: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The environment's values and the identity's overrides, from the SDK's document."""
        try:
            environment_flags = sdk.get_environment_flags().all_flags()
            identity_flags = sdk.get_identity_flags(identity).all_flags()
        except (FlagsmithClientError, KeyError, TypeError, ValueError) as error:
            raise FlagsUnavailable("The Flagsmith SDK could not evaluate the flags.") from error
        environment = self._decoded((f.feature_name, f.enabled, f.value) for f in environment_flags)
        overrides = self._decoded(
            (f.feature_name, f.enabled, f.value)
            for f in identity_flags
            if f.reason == OVERRIDE_REASON
        )
        return environment, overrides

    # --- reading the document ----------------------------------------------------------------

    async def _document(self) -> dict[str, Any]:
        response = await self._send(
            "GET",
            self._document_url,
            headers={"X-Environment-Key": self._server_key},
            key="server-side key",
        )
        if response.status_code != 200:
            raise self._unexpected(response)
        try:
            document = json_body(response)
        except ValueError:
            document = None
        if not isinstance(document, dict) or not isinstance(document.get("feature_states"), list):
            raise FlagsUnavailable(
                "Flagsmith answered with something other than an environment document.",
                details={"status": response.status_code},
            )
        return document

    def _held_by(self, document: Mapping[str, Any], identity: str) -> dict[str, Any]:
        """The identity's overrides in the document's `identity_overrides`."""
        entries = document.get("identity_overrides") or []
        held: list[tuple[str, Any, Any]] = []
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, Mapping) or entry.get("identifier") != identity:
                continue
            for state in entry.get("identity_features") or []:
                feature = state.get("feature") if isinstance(state, Mapping) else None
                name = feature.get("name") if isinstance(feature, Mapping) else None
                if isinstance(name, str):
                    held.append((name, state.get("enabled"), state.get("feature_state_value")))
        return self._decoded(held)

    def _decoded(self, features: Iterable[tuple[str, Any, Any]]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, enabled, value in features:
            definition = self._catalogue.definitions.get(name)
            try:
                values[name] = decode(definition, enabled, value)
            except Unreadable as error:
                seen = (name, repr(value)[:100])
                if seen not in self._warned and len(self._warned) < 1_000:
                    self._warned.add(seen)
                    log.warning("flagsmith holds an unreadable value of %s: %s", name, error)
        return values

    # --- own writes ----------------------------------------------------------------------------

    async def _write(self, method: str, identity: str, body: Mapping[str, Any]) -> httpx.Response:
        """One write to the identity's overrides. One that may have been made without our
        knowing (no answer, a 5xx or a 429 after the retries) is noted for `_check_answered`;
        a refused key says it was not made."""
        sent_at = time.monotonic()
        try:
            return await self._send(
                method,
                self._overrides_url,
                headers=self._admin_headers(),
                body=body,
                key="Admin API key",
            )
        except FlagsUnavailable as error:
            if error.details.get("status") not in (401, 403):
                self._unanswered[identity] = max(self._unanswered.get(identity, 0.0), sent_at)
            raise

    def _check_answered(self, identity: str) -> None:
        """FLAGS_UNAVAILABLE while a write to the identity that may have been made is younger
        than the document's trail: the document could still be without it."""
        sent_at = self._unanswered.get(identity)
        if sent_at is None:
            return
        waited = time.monotonic() - sent_at
        if waited >= self._trail:
            del self._unanswered[identity]
            return
        raise FlagsUnavailable(
            "A write to Flagsmith got no answer, and Flagsmith's environment document may not "
            "show it yet: what Flagsmith holds for this identity cannot be told until then.",
            details={RETRY_AFTER_SECONDS: math.ceil(self._trail - waited)},
        )

    def _remember(self, identity: str, flag: str, write: _Write) -> None:
        self._writes.setdefault(identity, {})[flag] = write

    def _with_writes(
        self, identity: str, held: Mapping[str, Any], fetched_at: float | None
    ) -> dict[str, Any]:
        """`held` with this process's writes laid over it. A write is forgotten once the SDK's
        document (fetched at `fetched_at`; None: `held` is not from it) is fetched after it and
        agrees with it — a fresher document read by `overrides` does not retire it, `state`
        still needs it — or when it has waited `_trail` for that."""
        overrides = dict(held)
        writes = self._writes.get(identity)
        if not writes:
            return overrides
        now = time.monotonic()
        for flag, write in list(writes.items()):
            if write.cleared:
                agrees = flag not in held
            else:
                agrees = flag in held and same_value(held[flag], write.value)
            caught_up = fetched_at is not None and fetched_at >= write.at
            if (agrees and caught_up) or now - write.at > self._trail:
                del writes[flag]
            elif write.cleared:
                overrides.pop(flag, None)
            else:
                overrides[flag] = write.value
        if not writes:
            self._writes.pop(identity, None)
        return overrides

    # --- HTTP ----------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise FlagsUnavailable("The Flagsmith client is closed.")

    def _closed_meanwhile(self) -> bool:
        return self._closed

    def _http(self) -> httpx.AsyncClient:
        self._check_open()
        if self._http_client is None:
            self._http_client = httpx.AsyncClient(timeout=httpx.Timeout(self._timeout))
        return self._http_client

    def _admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Api-Key {self._admin_key}"}

    async def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        key: str,
        body: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """One call, tried again on what may pass (the calls are idempotent). A refused key
        raises at once; any other answer is returned."""
        return await self._retry_policy.send(
            lambda: self._http().request(method, url, headers=headers, json=body),
            failure=functools.partial(self._failed, key=key),
            log=log,
            where=f"flagsmith {method} {_where(url)}",
        )

    def _failed(
        self, last: httpx.HTTPError | httpx.Response, attempts: int, *, key: str
    ) -> FlagsUnavailable:
        """What a call that failed (see `RetryPolicy.send`) is raised as; `key` names the
        credential the call sent."""
        if isinstance(last, httpx.TransportError):  # timeouts, refused connections, resets
            timed_out = isinstance(last, httpx.TimeoutException)
            return FlagsUnavailable(
                "Flagsmith did not answer in time."
                if timed_out
                else "Flagsmith could not be reached.",
                details={"reason": "timeout" if timed_out else "unreachable", "attempts": attempts},
            )
        if isinstance(last, httpx.HTTPError):
            return FlagsUnavailable(
                "Flagsmith could not be called.", details={"attempts": attempts}
            )
        status = last.status_code
        if status in (401, 403):
            return self._unavailable(last, attempts, f"Flagsmith refused our {key}.")
        if status == 429:
            return self._unavailable(last, attempts, "Flagsmith is rate limiting us.")
        return self._unavailable(last, attempts, f"Flagsmith failed (HTTP {status}).")

    @staticmethod
    def _unavailable(response: httpx.Response, attempts: int, message: str) -> FlagsUnavailable:
        details: dict[str, Any] = {"status": response.status_code, "attempts": attempts}
        said = _provider_message(response)
        if said:
            details["provider_message"] = said
        return FlagsUnavailable(message, details=details)

    def _unexpected(self, response: httpx.Response) -> FlagsUnavailable:
        return self._unavailable(
            response, 1, f"Flagsmith gave an unexpected answer (HTTP {response.status_code})."
        )


def _identity_not_found(response: httpx.Response) -> bool:
    """A 404 from Flagsmith's identity view (DRF's `{"detail": ...}`), not from its router."""
    if response.status_code != 404:
        return False
    try:
        body = json_body(response)
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("detail"), str)


def _where(url: str) -> str:
    """A URL for the log: host and path, never the credentials or query a URL may carry."""
    parsed = httpx.URL(url)
    return f"{parsed.host}{parsed.path}"


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _stop(sdk: Flagsmith, *, wait: float = 0.0) -> None:
    """Stop the SDK's poller (waiting up to `wait` seconds for its thread to end: between two
    fetches it ends at once) and close its HTTP session."""
    poller = getattr(sdk, "environment_data_polling_manager_thread", None)
    if poller is not None:
        poller.stop()
        if wait and poller.is_alive():
            poller.join(wait)
    sdk.session.close()


def _stop_when_built(building: asyncio.Future[Flagsmith]) -> None:
    if not building.cancelled() and building.exception() is None:
        _stop(building.result())
