"""The Flagsmith flag provider on a local fake of Flagsmith: the real SDK evaluates the
environment document the fake serves, writes go through the Admin API the fake answers
(docs/adr/0049)."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.config_files.flags import load_flag_catalogue
from adapters.flagsmith.flags import FlagsmithFeatureFlags
from admin_core.flags.errors import FlagsUnavailable, FlagValueInvalid
from admin_core.flags.model import effective_flags
from tests.support.fake_flagsmith import FakeFlagsmith, flagsmith_feature_flags

CATALOGUE = load_flag_catalogue(Path(__file__).parents[2] / "config" / "flags.yaml")
DEFAULTS = {name: d.default for name, d in CATALOGUE.definitions.items()}
SDK = "flagsmith-python-sdk"  # the User-Agent of the SDK's polls
OURS = "python-httpx"  # ... and of the adapter's own calls
DOCUMENT = "environment-document"
OVERRIDES = "edge-identities-featurestates"


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


async def refreshed(fake: FakeFlagsmith) -> None:
    """Until the SDK (started) has fetched the document again, all of it after this call."""
    seen = fake.calls_to("GET", DOCUMENT, user_agent=SDK)
    await until(lambda: fake.calls_to("GET", DOCUMENT, user_agent=SDK) >= seen + 2)


# --- reading ----------------------------------------------------------------------------------


async def test_the_environment_holds_every_flag_at_its_default_decoded_by_type() -> None:
    async with flagsmith_feature_flags(CATALOGUE) as (flags, fake):
        state = await flags.state("tenant_a")
    assert state.environment == DEFAULTS
    assert state.overrides == {}
    assert state.stale is False
    values = state.environment
    assert values["enable_mso_booking"] is True
    assert type(values["mso_pfs_skip_threshold"]) is int
    assert type(values["triage_risk_threshold"]) is float  # held by Flagsmith as "0.65"
    assert fake.features["triage_risk_threshold"].value == "0.65"
    assert values["matching_strategy_version"] == "v2.1"
    assert values["mso_eligible_decision_stages"] == [  # held as JSON text
        "comparing_options",
        "decided_on_destination",
    ]
    assert isinstance(fake.features["matching_domain_weights"].value, str)


async def test_values_changed_in_flagsmith_reach_the_environment_after_a_refresh() -> None:
    async with flagsmith_feature_flags(CATALOGUE) as (flags, fake):
        await flags.state("tenant_a")
        fake.set_feature("mso_max_offers_per_case", value=5)
        fake.set_feature("triage_risk_threshold", value="0.5")
        fake.set_feature("enable_mso_booking", enabled=False)
        fake.set_feature("beta_banner", enabled=True)  # not in the catalogue, no value
        fake.set_feature("welcome_text", enabled=False, value="hello")
        await refreshed(fake)
        environment = (await flags.state("tenant_a")).environment
    assert environment["mso_max_offers_per_case"] == 5
    assert environment["triage_risk_threshold"] == 0.5
    assert environment["enable_mso_booking"] is False
    assert environment["beta_banner"] is True
    assert environment["welcome_text"] == "hello"


async def test_a_value_that_does_not_read_as_its_type_gives_way_to_the_default() -> None:
    async with flagsmith_feature_flags(CATALOGUE) as (flags, fake):
        fake.set_feature("mso_max_offers_per_case", value="many")
        fake.set_feature("mso_eligible_decision_stages", value="[not json")
        state = await flags.state("tenant_a")
    assert "mso_max_offers_per_case" not in state.environment
    assert "mso_eligible_decision_stages" not in state.environment
    effective = effective_flags(CATALOGUE, "tenant_a", state)
    assert effective.values["mso_max_offers_per_case"] == 3
    assert (
        effective.values["mso_eligible_decision_stages"] == DEFAULTS["mso_eligible_decision_stages"]
    )


# --- writing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value", "held"),
    [
        ("enable_mso_booking", False, (False, None)),
        ("mso_pfs_skip_threshold", 90, (True, 90)),
        ("triage_risk_threshold", 0.8, (True, "0.8")),
        ("matching_strategy_version", "v1.0", (True, "v1.0")),
        ("mso_eligible_decision_stages", ["booked", "researching"], None),
        (
            "matching_domain_weights",
            {**DEFAULTS["matching_domain_weights"], "clinical_context": 0.1, "data_quality": 0.09},
            None,
        ),
    ],
)
async def test_an_override_of_each_type_is_read_back_as_written(
    flag: str, value: Any, held: tuple[bool, Any] | None
) -> None:
    async with flagsmith_feature_flags(CATALOGUE) as (flags, fake):
        await flags.set_override("tenant_a", flag, value)
        at_once = await flags.state("tenant_a")
        await refreshed(fake)
        evaluated = await flags.state("tenant_a")  # by the SDK, from the document
        fresh = await flags.overrides("tenant_a")
        stored = fake.override_of("tenant_a", flag)
    for state in (at_once, evaluated):
        assert state.overrides == {flag: value}
        assert state.environment == DEFAULTS
    assert fresh == {flag: value}
    assert stored is not None
    if held is None:  # a JSON value is held as its JSON text
        assert stored[0] is True
        assert isinstance(stored[1], str)
        assert json.loads(stored[1]) == value
    else:
        assert stored == held


async def test_an_override_equal_to_the_default_is_still_an_override() -> None:
    async with flagsmith_feature_flags(CATALOGUE) as (flags, fake):
        await flags.state("tenant_a")
        await flags.set_override("tenant_a", "triage_risk_threshold", 0.65)
        await flags.set_override("tenant_a", "enable_mso_booking", True)
        await refreshed(fake)
        state = await flags.state("tenant_a")
    assert state.overrides == {"triage_risk_threshold": 0.65, "enable_mso_booking": True}
    effective = effective_flags(CATALOGUE, "tenant_a", state)
    assert effective.overrides_applied == ["enable_mso_booking", "triage_risk_threshold"]


async def test_replacing_and_clearing_an_override() -> None:
    async with flagsmith_feature_flags(CATALOGUE) as (flags, fake):
        await flags.set_override("tenant_a", "mso_max_offers_per_case", 5)
        await flags.set_override("tenant_a", "mso_max_offers_per_case", 7)
        assert (await flags.state("tenant_a")).overrides == {"mso_max_offers_per_case": 7}
        assert fake.override_of("tenant_a", "mso_max_offers_per_case") == (True, 7)

        await flags.clear_override("tenant_a", "mso_max_offers_per_case")
        cleared = await flags.state("tenant_a")
        assert cleared.overrides == {}
        assert cleared.environment["mso_max_offers_per_case"] == 3
        assert await flags.overrides("tenant_a") == {}
        assert fake.override_of("tenant_a", "mso_max_offers_per_case") is None

        await refreshed(fake)
        assert (await flags.state("tenant_a")).overrides == {}
        await flags.clear_override("tenant_a", "mso_max_offers_per_case")  # none: no error
        await flags.clear_override("tenant_never_seen", "enable_mso_booking")


async def test_own_writes_show_at_once_though_the_document_is_older() -> None:
    async with flagsmith_feature_flags(CATALOGUE, refresh_seconds=60) as (flags, fake):
        fake.set_identity_override("tenant_a", "mso_max_offers_per_case", value=9)
        assert (await flags.state("tenant_a")).overrides == {"mso_max_offers_per_case": 9}
        await until(lambda: fake.calls_to("GET", DOCUMENT, user_agent=SDK) >= 2)  # then 60 s
        fake.set_identity_override("tenant_b", "mso_max_offers_per_case", value=4)

        await flags.set_override("tenant_a", "triage_risk_threshold", 0.9)
        await flags.clear_override("tenant_a", "mso_max_offers_per_case")

        assert (await flags.state("tenant_a")).overrides == {"triage_risk_threshold": 0.9}
        assert await flags.overrides("tenant_a") == {"triage_risk_threshold": 0.9}
        # Flagsmith holding the writes does not make the SDK's document hold them.
        assert (await flags.state("tenant_a")).overrides == {"triage_risk_threshold": 0.9}
        # Another identity is served from the SDK's (older) document: the change made in
        # Flagsmith's dashboard is not there yet.
        assert (await flags.state("tenant_b")).overrides == {}
        assert await flags.overrides("tenant_b") == {"mso_max_offers_per_case": 4}


async def test_another_identity_is_unaffected_by_an_override() -> None:
    async with flagsmith_feature_flags(CATALOGUE) as (flags, fake):
        await flags.state("tenant_b")
        await flags.set_override("tenant_a", "enable_mso_booking", False)
        await refreshed(fake)
        other = await flags.state("tenant_b")
        assert await flags.overrides("tenant_b") == {}
    assert other.overrides == {}
    assert other.environment == DEFAULTS
    assert fake.override_of("tenant_b", "enable_mso_booking") is None


async def test_changes_made_elsewhere_show_once_the_document_caught_up_with_our_write() -> None:
    async with flagsmith_feature_flags(CATALOGUE) as (flags, fake):
        await flags.state("tenant_a")
        await flags.set_override("tenant_a", "mso_max_offers_per_case", 7)
        await refreshed(fake)
        assert (await flags.state("tenant_a")).overrides == {"mso_max_offers_per_case": 7}
        fake.set_identity_override("tenant_a", "mso_max_offers_per_case", value=11)
        await refreshed(fake)
        assert (await flags.state("tenant_a")).overrides == {"mso_max_offers_per_case": 11}
        fake.remove_identity_override("tenant_a", "mso_max_offers_per_case")
        await refreshed(fake)
        assert (await flags.state("tenant_a")).overrides == {}


async def test_overrides_reads_what_flagsmith_holds_now() -> None:
    async with flagsmith_feature_flags(CATALOGUE, refresh_seconds=60) as (flags, fake):
        await flags.state("tenant_a")
        await until(lambda: fake.calls_to("GET", DOCUMENT, user_agent=SDK) >= 2)
        fake.set_identity_override("tenant_a", "triage_layer_advance_threshold", value="0.75")
        fake.set_identity_override("tenant_a", "enable_mso_booking", enabled=True)
        assert await flags.overrides("tenant_a") == {
            "triage_layer_advance_threshold": 0.75,
            "enable_mso_booking": True,
        }
        assert (await flags.state("tenant_a")).overrides == {}  # the SDK's document is older


async def test_a_value_of_the_wrong_type_is_refused_before_calling_flagsmith() -> None:
    async with flagsmith_feature_flags(CATALOGUE) as (flags, fake):
        with pytest.raises(FlagValueInvalid):
            await flags.set_override("tenant_a", "mso_pfs_skip_threshold", "ten")
        with pytest.raises(FlagValueInvalid):
            await flags.set_override("tenant_a", "enable_mso_booking", "yes")
        assert fake.calls_to("PUT", OVERRIDES) == 0


# --- faults -------------------------------------------------------------------------------------


async def test_a_write_answered_5xx_is_tried_again() -> None:
    async with flagsmith_feature_flags(CATALOGUE, retries=2) as (flags, fake):
        fake.fail_next(503, 2, method="PUT")
        await flags.set_override("tenant_a", "mso_max_offers_per_case", 6)
        assert fake.calls_to("PUT", OVERRIDES) == 3
        assert (await flags.state("tenant_a")).overrides == {"mso_max_offers_per_case": 6}


async def test_a_write_failing_with_5xx_after_its_retries_is_flags_unavailable() -> None:
    async with flagsmith_feature_flags(CATALOGUE, retries=2) as (flags, fake):
        fake.fail_next(503, 3, method="PUT")
        with pytest.raises(FlagsUnavailable) as raised:
            await flags.set_override("tenant_a", "mso_max_offers_per_case", 6)
        assert raised.value.details["status"] == 503
        assert raised.value.details["attempts"] == 3
        assert (await flags.state("tenant_a")).overrides == {}
        assert fake.override_of("tenant_a", "mso_max_offers_per_case") is None


async def test_a_read_failing_with_5xx_is_flags_unavailable() -> None:
    async with flagsmith_feature_flags(CATALOGUE) as (flags, fake):
        fake.fail_next(502, 100, path=DOCUMENT, user_agent=OURS)
        with pytest.raises(FlagsUnavailable) as before_start:
            await flags.state("tenant_a")
        with pytest.raises(FlagsUnavailable) as fresh_read:
            await flags.overrides("tenant_a")
    assert before_start.value.details["status"] == 502
    assert fresh_read.value.details["status"] == 502
    assert fresh_read.value.details["attempts"] == 2


async def test_a_hanging_flagsmith_is_flags_unavailable_after_the_timeout() -> None:
    async with flagsmith_feature_flags(CATALOGUE, timeout=0.3, retries=1) as (flags, fake):
        fake.hang_next(3, 2, method="PUT")
        started = time.monotonic()
        with pytest.raises(FlagsUnavailable) as write:
            await flags.set_override("tenant_a", "mso_max_offers_per_case", 6)
        assert time.monotonic() - started < 2
        assert write.value.details == {"reason": "timeout", "attempts": 2}

        fake.hang_next(3, 2, path=DOCUMENT, user_agent=OURS)
        started = time.monotonic()
        with pytest.raises(FlagsUnavailable) as read:  # tenant_a's write may yet land: another
            await flags.overrides("tenant_b")
        assert time.monotonic() - started < 2
        assert read.value.details["reason"] == "timeout"


async def test_unreachable_flagsmith_is_flags_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/api/v1/"
    async with flagsmith_feature_flags(
        CATALOGUE, api_url=closed, admin_api_url=closed, retries=1
    ) as (flags, _):
        with pytest.raises(FlagsUnavailable) as read:
            await flags.state("tenant_a")
        with pytest.raises(FlagsUnavailable) as write:
            await flags.set_override("tenant_a", "enable_mso_booking", False)
    assert read.value.details["reason"] == "unreachable"
    assert write.value.details["reason"] == "unreachable"


async def test_a_refused_admin_key_is_flags_unavailable_at_once() -> None:
    async with flagsmith_feature_flags(CATALOGUE, admin_key="not_the_key") as (flags, fake):
        with pytest.raises(FlagsUnavailable) as write:
            await flags.set_override("tenant_a", "enable_mso_booking", False)
        with pytest.raises(FlagsUnavailable):
            await flags.clear_override("tenant_a", "enable_mso_booking")
        assert fake.calls_to("PUT", OVERRIDES) == 1  # not tried again
        assert (await flags.state("tenant_a")).environment == DEFAULTS  # reads still work
    assert write.value.details["status"] == 401
    assert write.value.details["provider_message"] == "Valid Master API Key not found."
    assert "Admin API key" in write.value.message


async def test_a_refused_server_key_is_flags_unavailable_at_once() -> None:
    async with flagsmith_feature_flags(CATALOGUE, server_key="ser.not_the_key") as (flags, fake):
        with pytest.raises(FlagsUnavailable) as read:
            await flags.state("tenant_a")
        with pytest.raises(FlagsUnavailable):
            await flags.overrides("tenant_a")
        assert fake.calls_to("GET", DOCUMENT) == 2  # one each, not tried again
    # Flagsmith's EnvironmentKeyAuthentication refuses a key with 403 (docs/adr/0049).
    assert read.value.details["status"] == 403
    assert "server-side key" in read.value.message


async def test_429_is_tried_again_after_retry_after() -> None:
    async with flagsmith_feature_flags(CATALOGUE) as (flags, fake):
        fake.fail_next(429, 1, method="PUT", retry_after="1")
        started = time.monotonic()
        await flags.set_override("tenant_a", "mso_max_offers_per_case", 6)
        assert time.monotonic() - started >= 0.9
        assert fake.calls_to("PUT", OVERRIDES) == 2
        assert fake.override_of("tenant_a", "mso_max_offers_per_case") == (True, 6)


async def test_a_long_retry_after_is_capped() -> None:
    async with flagsmith_feature_flags(CATALOGUE, max_retry_after=0.3) as (flags, fake):
        fake.fail_next(429, 1, method="DELETE", retry_after="3600")
        started = time.monotonic()
        async with asyncio.timeout(5):  # an hour honoured fails here, not after the hour
            await flags.clear_override("tenant_a", "mso_max_offers_per_case")
        assert 0.3 <= time.monotonic() - started < 2  # the cap waited, not the backoff
        assert fake.calls_to("DELETE", OVERRIDES) == 2


async def test_retry_after_is_capped_at_five_seconds_by_default() -> None:
    """A rate limit asking for half a minute holds a write for 5 s: no longer (a request
    would hang), no shorter (the cap is the default, not some other limit)."""
    async with flagsmith_feature_flags(CATALOGUE) as (flags, fake):
        fake.fail_next(429, 1, method="PUT", retry_after="30")
        started = time.monotonic()
        async with asyncio.timeout(8):
            await flags.set_override("tenant_a", "mso_max_offers_per_case", 6)
        assert 4.9 <= time.monotonic() - started < 8
        assert fake.calls_to("PUT", OVERRIDES) == 2
        assert fake.override_of("tenant_a", "mso_max_offers_per_case") == (True, 6)


@pytest.mark.parametrize("cap", [0.0, -1.0, math.nan])
def test_a_retry_after_cap_that_is_not_positive_is_refused(cap: float) -> None:
    with pytest.raises(ValueError, match="max_retry_after"):
        FlagsmithFeatureFlags(
            catalogue=CATALOGUE,
            api_url="http://127.0.0.1:9/api/v1/",
            server_key="ser.key",
            admin_api_url="http://127.0.0.1:9/api/v1/",
            admin_key="key",
            environment_key="env",
            max_retry_after=cap,
        )


async def test_429_after_the_retries_is_flags_unavailable() -> None:
    async with flagsmith_feature_flags(CATALOGUE, retries=1) as (flags, fake):
        fake.fail_next(429, 2, method="PUT", retry_after="0")
        with pytest.raises(FlagsUnavailable) as raised:
            await flags.set_override("tenant_a", "mso_max_offers_per_case", 6)
    assert raised.value.details["status"] == 429
    assert "rate limiting" in raised.value.message


async def test_an_unexpected_refusal_is_flags_unavailable_and_not_retried() -> None:
    async with flagsmith_feature_flags(CATALOGUE) as (flags, fake):
        with pytest.raises(FlagsUnavailable) as raised:
            await flags.set_override("tenant_a", "not_a_flagsmith_feature", True)
        assert fake.calls_to("PUT", OVERRIDES) == 1
    assert raised.value.details["status"] == 400


async def test_a_project_without_edge_identities_is_flags_unavailable_in_flagsmiths_words() -> None:
    """A self-hosted Flagsmith, or a project not on Edge identities, refuses the edge identity
    endpoints: refused outright (not retried), the write not made, the identity readable."""
    async with flagsmith_feature_flags(CATALOGUE) as (flags, fake):
        fake.edge_identities = False
        for write in (
            flags.set_override("tenant_a", "mso_max_offers_per_case", 6),
            flags.clear_override("tenant_a", "mso_max_offers_per_case"),
        ):
            with pytest.raises(FlagsUnavailable) as raised:
                await write
            assert raised.value.details["status"] == 400
            assert "Dynamo DB is not enabled" in raised.value.details["provider_message"]
        assert fake.calls_to("PUT", OVERRIDES) == fake.calls_to("DELETE", OVERRIDES) == 1
        assert await flags.overrides("tenant_a") == {}


async def test_clearing_for_an_identity_flagsmith_does_not_know_is_not_an_error() -> None:
    async with flagsmith_feature_flags(CATALOGUE) as (flags, fake):
        fake.fail_next(404, 1, method="DELETE")  # as older Flagsmith versions answer
        await flags.clear_override("tenant_new", "enable_mso_booking")
        assert (await flags.state("tenant_new")).overrides == {}


async def test_clearing_with_an_environment_key_flagsmith_does_not_know_is_flags_unavailable() -> (
    None
):
    async with flagsmith_feature_flags(CATALOGUE, environment_key="notOurs") as (flags, fake):
        fake.set_identity_override("tenant_a", "enable_mso_booking", enabled=True)
        with pytest.raises(FlagsUnavailable) as raised:
            await flags.clear_override("tenant_a", "enable_mso_booking")
        assert raised.value.details["status"] == 403
        assert await flags.overrides("tenant_a") == {"enable_mso_booking": True}


async def test_clearing_at_a_path_flagsmith_does_not_serve_is_flags_unavailable() -> None:
    """A wrong Admin API URL answers 404 too, but from the router: not about the identity."""
    async with flagsmith_feature_flags(CATALOGUE) as (flags, fake):
        fake.set_identity_override("tenant_a", "enable_mso_booking", enabled=True)
        wrong = FlagsmithFeatureFlags(
            catalogue=CATALOGUE,
            api_url=fake.api_url,
            server_key=fake.server_key,
            admin_api_url=f"{fake.url}/admin/api/v1/",
            admin_key=fake.admin_key,
            environment_key=fake.environment_key,
        )
        try:
            with pytest.raises(FlagsUnavailable) as raised:
                await wrong.clear_override("tenant_a", "enable_mso_booking")
        finally:
            await wrong.aclose()
        assert raised.value.details["status"] == 404
        assert await flags.overrides("tenant_a") == {"enable_mso_booking": True}


async def test_a_write_made_but_answered_too_late_leaves_the_identity_unknown_until_shown() -> None:
    """A write that timed out may have been made, and the document trails writes: until it
    can show the write, the identity's overrides are unavailable, never the older answer."""
    async with flagsmith_feature_flags(CATALOGUE, timeout=0.3, retries=0, trail_seconds=1.0) as (
        flags,
        fake,
    ):
        fake.trail_writes()
        fake.late_next(0.6, method="PUT")
        with pytest.raises(FlagsUnavailable):
            await flags.set_override("tenant_a", "mso_max_offers_per_case", 7)
        assert fake.override_of("tenant_a", "mso_max_offers_per_case") == (True, 7)
        with pytest.raises(FlagsUnavailable) as raised:
            await flags.overrides("tenant_a")
        assert raised.value.details["retry_after_seconds"] == 1
        assert await flags.overrides("tenant_b") == {}  # other identities are answered
        fake.catch_up()
        await asyncio.sleep(1.0)
        assert await flags.overrides("tenant_a") == {"mso_max_offers_per_case": 7}


async def test_a_write_refused_outright_leaves_the_identity_readable() -> None:
    async with flagsmith_feature_flags(CATALOGUE) as (flags, _):
        with pytest.raises(FlagsUnavailable):
            await flags.set_override("tenant_a", "not_a_flagsmith_feature", True)
        assert await flags.overrides("tenant_a") == {}


async def test_state_is_served_stale_when_flagsmith_stops_answering() -> None:
    async with flagsmith_feature_flags(CATALOGUE, refresh_seconds=0.2, timeout=0.3, retries=0) as (
        flags,
        fake,
    ):
        fake.set_identity_override("tenant_a", "mso_max_offers_per_case", value=8)
        assert (await flags.state("tenant_a")).stale is False
        fake.fail_next(503, 10_000, path=DOCUMENT, user_agent=SDK)
        stale: list[bool] = []

        async def check() -> None:
            stale.append((await flags.state("tenant_a")).stale)

        deadline = time.monotonic() + 5
        while not (stale and stale[-1]):
            assert time.monotonic() < deadline, "never marked stale"
            await check()
            await asyncio.sleep(0.05)
        last = await flags.state("tenant_a")
        assert last.environment == DEFAULTS
        assert last.overrides == {"mso_max_offers_per_case": 8}

        fake.clear_faults()
        await refreshed(fake)
        assert (await flags.state("tenant_a")).stale is False


async def test_nothing_is_fetched_before_the_first_call_and_the_loop_keeps_running() -> None:
    async with flagsmith_feature_flags(CATALOGUE) as (flags, fake):
        assert fake.calls == []
        fake.hang_next(0.5, 1, path=DOCUMENT, user_agent=SDK)  # the SDK's first fetch
        gaps: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            last = time.monotonic()
            while not done.is_set():
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        ticking = asyncio.create_task(ticker())
        started = time.monotonic()
        state = await flags.state("tenant_a")
        done.set()
        await ticking
    assert time.monotonic() - started >= 0.4  # the SDK's first fetch did hang ...
    assert max(gaps) < 0.25  # ... in a thread, not on the event loop
    assert state.environment == DEFAULTS


async def test_closing_stops_the_polling_and_further_calls() -> None:
    async with flagsmith_feature_flags(CATALOGUE) as (flags, fake):
        await flags.state("tenant_a")
        await refreshed(fake)
        await flags.aclose()
        await asyncio.sleep(0.3)  # a poll under way may still finish
        polls = fake.calls_to("GET", DOCUMENT, user_agent=SDK)
        await asyncio.sleep(0.5)
        assert fake.calls_to("GET", DOCUMENT, user_agent=SDK) == polls
        with pytest.raises(FlagsUnavailable):
            await flags.state("tenant_a")
        with pytest.raises(FlagsUnavailable):
            await flags.set_override("tenant_a", "enable_mso_booking", False)


async def test_retries_are_logged_without_the_credentials_a_url_holds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with flagsmith_feature_flags(CATALOGUE) as (_, fake):
        with_password = fake.api_url.replace("http://", "http://ops:flagsmithurlpw@")
        flags = FlagsmithFeatureFlags(
            catalogue=CATALOGUE,
            api_url=with_password,
            server_key=fake.server_key,
            admin_api_url=fake.admin_api_url,
            admin_key=fake.admin_key,
            environment_key=fake.environment_key,
            retries=1,
        )
        try:
            fake.fail_next(503, 1, path=DOCUMENT, user_agent=OURS)
            assert await flags.overrides("tenant_a") == {}
        finally:
            await flags.aclose()
    assert "answered 503" in caplog.text
    assert "flagsmithurlpw" not in caplog.text
