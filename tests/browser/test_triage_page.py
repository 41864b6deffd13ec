"""The triage page (SPEC §6.6) in a real browser against the real app: sign in with a token
(pasted, or in the URL fragment `make run` prints), pick a tenant, edit thresholds with a
reason; the server's errors appear next to their fields and nothing is written; a saved change
is shown as an override after a reload and is in the audit log; a role without
`tenant:manage` is told plainly it is not allowed; the page runs under a strict CSP without a
console error."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.live import ARTIFACTS, LiveApp, PageUnderTest
from tests.support.http import PLATFORM_ORG

PAGE = "/admin/triage"
TOKEN_KEY = "admin-core.token"
RISK = "triage_risk_threshold"
PFS = "mso_pfs_skip_threshold"
STAGES = "mso_eligible_decision_stages"
THRESHOLDS = {
    RISK,
    "triage_layer_advance_threshold",
    "mso_completion_threshold",
    "mso_pfs_skip_threshold",
    "mso_max_offers_per_case",
    STAGES,
}


def open_page(under_test: PageUnderTest, suffix: str = "") -> Any:
    page = under_test.page
    page.goto(f"{under_test.app.base_url}{PAGE}{suffix}")
    return page


def paste_token(page: Any, token: str) -> None:
    page.get_by_label("Bearer token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def sign_in(page: Any, token: str) -> None:
    paste_token(page, token)
    expect(page.locator("#session")).to_be_visible()


def pick_tenant(page: Any, tenant_id: str) -> None:
    page.get_by_label("Tenant", exact=True).select_option(tenant_id)
    expect(page.locator("#thresholds-form")).to_be_visible()
    expect(page.locator(".threshold")).to_have_count(len(THRESHOLDS))


def at_tenant(under_test: PageUnderTest, tenant_id: str) -> Any:
    """The page opened and signed in as a platform admin, showing `tenant_id`'s thresholds."""
    tab = open_page(under_test)
    sign_in(tab, under_test.app.token())
    pick_tenant(tab, tenant_id)
    return tab


def threshold(page: Any, name: str) -> Any:
    return page.locator(f".threshold[data-name='{name}']")


def stored_token(page: Any) -> str | None:
    value: str | None = page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')")
    return value


def test_the_page_has_a_strict_policy_no_inline_code_and_stays_out_of_the_api_document(
    live_app: LiveApp,
) -> None:
    response = live_app.http.get(PAGE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = {
        part.split()[0]: part.split()[1:]
        for part in response.headers["content-security-policy"].split(";")
    }
    assert policy == {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "connect-src": ["'self'"],
        "img-src": ["'self'"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
        "frame-ancestors": ["'none'"],
    }
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    html = response.text
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts == ['<script src="/admin/assets/triage/triage.js" defer>']
    assert "<style" not in html
    assert " style=" not in html
    assert not re.search(r"\son[a-z]+=", html), "no inline event handlers"
    urls = re.findall(r'(?:src|href)="([^"#][^"]*)"', html)
    assert urls
    assert all(url.startswith("/admin/assets/triage/") for url in urls), urls
    for url in urls:
        asset = live_app.http.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert (
            asset.headers["content-security-policy"] == response.headers["content-security-policy"]
        )
    document = live_app.http.get("/api/v1/admin/schema/openapi.json").json()
    assert all(path.startswith("/api/v1/admin/") for path in document["paths"])


def test_a_value_out_of_range_is_shown_next_to_its_field_and_nothing_is_written(
    page: PageUnderTest,
) -> None:
    app, tenant = page.app, "apollo-chennai"
    before, audited = app.thresholds(tenant), len(app.audit(tenant))
    tab = at_tenant(page, tenant)

    field = tab.get_by_label("Triage risk threshold", exact=True)
    expect(field).to_have_value(str(before[RISK]["value"]))
    field.fill("1.5")
    tab.get_by_label("Reason for the change").fill("Testing a value out of range")
    tab.get_by_role("button", name="Save changes").click()

    error = tab.locator(f"#t-{RISK}-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("at most 1")
    expect(field).to_have_attribute("aria-invalid", "true")
    described = field.get_attribute("aria-describedby").split()
    assert f"t-{RISK}-error" in described
    expect(field).to_be_focused()
    summary = tab.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("Triage risk threshold: must be at most 1")
    expect(threshold(tab, RISK)).to_contain_text("Default value")
    tab.screenshot(path=str(ARTIFACTS / "triage-error.png"), full_page=True)

    assert app.thresholds(tenant) == before
    assert len(app.audit(tenant)) == audited
    assert page.unexpected_errors(422) == []


def test_a_valid_value_with_a_reason_is_saved_audited_and_shown_as_overridden_after_a_reload(
    page: PageUnderTest,
) -> None:
    app, tenant = page.app, "apollo-chennai"
    audited = len(app.audit(tenant))
    reason = "Clinical review asked for a lower bar (ticket TRI-42)"
    tab = at_tenant(page, tenant)

    tab.get_by_label("Triage risk threshold", exact=True).fill("0.7")
    tab.get_by_label("Reason for the change").fill(reason)
    tab.get_by_role("button", name="Save changes").click()

    status = tab.locator("#status")
    expect(status).to_contain_text("Saved for")
    expect(status).to_contain_text("Triage risk threshold")
    expect(threshold(tab, RISK)).to_contain_text("Overridden for this tenant")
    expect(tab.get_by_label("Reason for the change")).to_have_value("")
    tab.screenshot(path=str(ARTIFACTS / "triage.png"), full_page=True)

    saved = app.thresholds(tenant)[RISK]
    assert (saved["value"], saved["overridden"]) == (0.7, True)

    tab.reload()
    expect(tab.locator("#session")).to_be_visible()  # the token is still in this tab
    expect(tab.get_by_label("Tenant", exact=True)).to_have_value(tenant)  # remembered
    expect(tab.get_by_label("Triage risk threshold", exact=True)).to_have_value("0.7")
    expect(threshold(tab, RISK)).to_contain_text("Overridden for this tenant")
    expect(threshold(tab, RISK).get_by_role("button", name="Clear override")).to_be_visible()

    entries = app.audit(tenant)
    assert len(entries) == audited + 1
    entry = entries[0]
    assert entry["action"] == "triage_threshold.update"
    assert entry["resource_id"] == RISK
    assert entry["actor_id"] == "user_browser"
    assert entry["after"]["value"] == 0.7
    assert entry["after"]["reason"] == reason
    assert page.unexpected_errors() == []


def test_the_stage_list_is_a_group_of_checkboxes_and_an_override_can_be_cleared(
    page: PageUnderTest,
) -> None:
    app, tenant = page.app, "bumrungrad-bangkok"
    tab = at_tenant(page, tenant)

    group = tab.get_by_role("group", name="MSO eligible decision stages")
    boxes = group.get_by_role("checkbox")
    expect(boxes).to_have_count(len(app.thresholds(tenant)[STAGES]["allowed"]))
    expect(group.get_by_label("Comparing options")).to_be_checked()
    booked = group.get_by_label("Booked")
    expect(booked).not_to_be_checked()
    booked.focus()
    tab.keyboard.press("Space")  # keyboard alone
    expect(booked).to_be_checked()
    expect(threshold(tab, STAGES)).to_contain_text("Edited, not saved")
    tab.get_by_label("Reason for the change").fill("Offer second opinions once booked too")
    tab.get_by_role("button", name="Save changes").click()
    expect(threshold(tab, STAGES)).to_contain_text("Overridden for this tenant")
    saved = app.thresholds(tenant)[STAGES]
    assert set(saved["value"]) == {"comparing_options", "decided_on_destination", "booked"}

    clear = threshold(tab, STAGES).get_by_role("button", name="Clear override")
    clear.click()  # without a reason: the server asks for one, next to the reason
    reason_error = tab.locator("#reason-error")
    expect(reason_error).to_be_visible()
    expect(tab.get_by_label("Reason for the change")).to_be_focused()
    assert app.thresholds(tenant)[STAGES]["overridden"] is True

    tab.get_by_label("Reason for the change").fill("Back to the platform default")
    clear.click()
    expect(tab.locator("#status")).to_contain_text("cleared")
    expect(threshold(tab, STAGES)).to_contain_text("Default value")
    expect(reason_error).to_be_hidden()
    restored = app.thresholds(tenant)[STAGES]
    assert restored["overridden"] is False
    assert restored["value"] == restored["default"]
    entries = app.audit(tenant)
    assert [e["after"].get("reason") for e in entries[:2]] == [
        "Back to the platform default",
        "Offer second opinions once booked too",
    ]
    assert page.unexpected_errors(422) == []


def test_a_missing_reason_is_shown_next_to_the_reason_and_every_field_is_labelled(
    page: PageUnderTest,
) -> None:
    app, tenant = page.app, "acibadem-istanbul"
    before = app.thresholds(tenant)
    tab = at_tenant(page, tenant)
    unlabelled = tab.evaluate(
        """() => Array.from(document.querySelectorAll('input, select, textarea'))
            .filter((el) => el.offsetParent !== null && el.labels.length === 0)
            .map((el) => el.id || el.name)"""
    )
    assert unlabelled == []

    field = tab.get_by_label("MSO max offers per case", exact=True)
    field.fill("5")
    field.press("Enter")  # submits the form, like the Save button

    reason = tab.get_by_label("Reason for the change")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(reason).to_be_focused()
    expect(tab.locator("#reason-error")).to_contain_text("Enter a reason")
    expect(tab.locator("#error-summary")).to_contain_text("Reason: Enter a reason")
    assert app.thresholds(tenant) == before
    assert page.unexpected_errors(422) == []


def test_the_link_make_run_prints_signs_in_and_leaves_no_token_in_the_address_bar(
    page: PageUnderTest,
) -> None:
    link = page.app.welcome_link()
    token = link.split("#token=", 1)[1]
    tab = page.page
    assert link.startswith(f"{page.app.base_url}/admin/triage#token=")
    tab.goto(link)
    expect(tab.locator("#session")).to_be_visible()
    expect(tab.locator("#session-who")).to_contain_text("user_local_admin")
    assert "token" not in tab.evaluate("location.href")
    assert tab.evaluate("location.hash") == ""
    assert stored_token(tab) == token
    expect(tab.get_by_label("Tenant", exact=True).locator("option")).to_have_count(5)
    assert page.unexpected_errors() == []


def test_a_tenant_scoped_admin_sees_only_its_tenant_and_signing_out_forgets_the_token(
    page: PageUnderTest,
) -> None:
    tab = open_page(page)
    sign_in(tab, page.app.token(org="org_medanta", user="user_medanta_admin"))
    tenant = tab.get_by_label("Tenant", exact=True)
    expect(tenant.locator("option")).to_have_count(2)  # the prompt and its own tenant
    expect(tenant).to_have_value("medanta-gurugram")  # the only one: chosen for it
    expect(tab.locator(".threshold")).to_have_count(len(THRESHOLDS))

    tab.get_by_role("button", name="Sign out").click()
    expect(tab.get_by_label("Bearer token")).to_be_visible()
    expect(tab.locator("#status")).to_contain_text("Signed out")
    assert stored_token(tab) is None
    tab.reload()
    expect(tab.get_by_label("Bearer token")).to_be_visible()
    expect(tab.locator("#workspace")).to_be_hidden()
    assert page.unexpected_errors() == []


def test_a_coordinator_is_told_plainly_it_is_not_allowed(page: PageUnderTest) -> None:
    tab = open_page(page)
    sign_in(tab, page.app.token(role="org:coordinator", org=PLATFORM_ORG))
    alert = tab.locator("#alert")
    expect(alert).to_be_visible()
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_contain_text("Not allowed")
    expect(alert).to_contain_text("tenant:manage")
    expect(tab.locator("#thresholds-form")).to_be_hidden()
    assert page.unexpected_errors(403) == []


def test_a_refused_token_asks_for_a_token_again(page: PageUnderTest) -> None:
    tab = open_page(page)
    forged = page.app.token()[:-4] + "AAAA"
    paste_token(tab, forged)
    error = tab.locator("#token-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Sign in again")
    expect(tab.get_by_label("Bearer token")).to_have_attribute("aria-invalid", "true")
    expect(tab.locator("#workspace")).to_be_hidden()
    assert stored_token(tab) is None
    assert page.unexpected_errors(401) == []


def test_thresholds_read_from_a_stale_cache_carry_a_notice(page: PageUnderTest) -> None:
    """`stale: true` (the flag provider unreachable, the cache answering) as the API sends it;
    the embedded flag store is never stale, so the answer is amended on its way."""

    def stale(route: Any) -> None:
        answer = route.fetch()
        body = answer.json()
        body["data"]["stale"] = True
        route.fulfill(response=answer, json=body)

    tab = open_page(page)
    tab.route("**/api/v1/admin/triage/thresholds?*", stale)
    sign_in(tab, page.app.token())
    notice = tab.locator("#stale")
    expect(notice).to_be_hidden()
    pick_tenant(tab, "apollo-chennai")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("may be out of date")
    assert page.unexpected_errors() == []


def test_a_tenant_is_shown_by_its_id_first_whatever_its_name(page: PageUnderTest) -> None:
    tab = open_page(page)
    sign_in(tab, page.app.token())
    labels = tab.locator("#tenant option").all_inner_texts()
    tenants = [label for label in labels if "—" in label]
    assert tenants, labels
    assert all(re.match(r"^[a-z0-9-]+ — ", label) for label in tenants), labels


def test_switching_tenant_hides_the_old_form_at_once_and_asks_before_dropping_edits(
    page: PageUnderTest,
) -> None:
    before = page.app.thresholds("apollo-chennai")[RISK]
    tab = open_page(page)
    sign_in(tab, page.app.token())
    pick_tenant(tab, "apollo-chennai")
    tab.get_by_label("Triage risk threshold", exact=True).fill("0.71")

    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    tab.once("dialog", dismiss)
    tab.get_by_label("Tenant", exact=True).select_option("acibadem-istanbul")
    expect(tab.get_by_label("Tenant", exact=True)).to_have_value("apollo-chennai")
    expect(tab.get_by_label("Triage risk threshold", exact=True)).to_have_value("0.71")
    assert len(asked) == 1
    assert "apollo-chennai" in asked[0]

    # A slow answer for the next tenant: the old form is gone while it loads, so nothing
    # typed meanwhile can be saved to the tenant the picker no longer shows.
    tab.route(
        "**/triage/thresholds?tenant_id=acibadem-istanbul",
        lambda route: (tab.wait_for_timeout(1500), route.continue_()),
    )
    tab.once("dialog", lambda dialog: dialog.accept())
    tab.get_by_label("Tenant", exact=True).select_option("acibadem-istanbul")
    expect(tab.locator("#thresholds-form")).to_be_hidden()
    expect(tab.locator("#thresholds-form")).to_be_visible()
    expect(tab.get_by_label("Triage risk threshold", exact=True)).not_to_have_value("0.71")
    assert page.app.thresholds("apollo-chennai")[RISK] == before


def test_clearing_one_override_keeps_what_was_typed_in_the_others(page: PageUnderTest) -> None:
    tenant = "bumrungrad-bangkok"
    tab = at_tenant(page, tenant)
    tab.get_by_label("Triage risk threshold", exact=True).fill("0.72")
    tab.get_by_label("Reason for the change").fill("Set it")
    tab.get_by_role("button", name="Save changes").click()
    expect(threshold(tab, RISK)).to_contain_text("Overridden for this tenant")

    tab.get_by_label("MSO max offers per case", exact=True).fill("7")
    tab.get_by_label("Reason for the change").fill("Back to the default")
    threshold(tab, RISK).get_by_role("button", name="Clear override").click()
    expect(threshold(tab, RISK)).to_contain_text("Default value")
    expect(tab.get_by_label("MSO max offers per case", exact=True)).to_have_value("7")
    expect(threshold(tab, "mso_max_offers_per_case")).to_contain_text("Edited, not saved")
    assert page.unexpected_errors() == []


def test_the_arrow_keys_move_a_float_threshold_by_a_small_step_not_to_an_end(
    page: PageUnderTest,
) -> None:
    """The risk threshold has no step in the catalogue: ArrowUp on 0.65 is 0.66, not 1."""
    app, tenant = page.app, "apollo-chennai"
    tab = at_tenant(page, tenant)
    field = tab.get_by_label("Triage risk threshold", exact=True)
    expect(field).to_have_value(str(app.thresholds(tenant)[RISK]["value"]))
    field.fill("0.65")
    field.press("ArrowUp")
    expect(field).to_have_value("0.66")
    field.press("ArrowDown")
    field.press("ArrowDown")
    expect(field).to_have_value("0.64")


def test_a_token_that_expires_while_editing_keeps_what_was_typed_for_the_next_sign_in(
    page: PageUnderTest,
) -> None:
    """A session token lives a minute or so: saving after it expired asks for a new one, and
    the values and reason typed come back once it is given, nothing saved meanwhile."""
    app, tenant = page.app, "apollo-chennai"
    before = app.thresholds(tenant)
    short = app.container.auth.token_issuer().mint(
        user_id="user_browser", org_id=PLATFORM_ORG, role="org:admin", ttl_seconds=1
    )
    tab = open_page(page)
    sign_in(tab, short)
    pick_tenant(tab, tenant)
    field = tab.locator(f"#t-{PFS}")
    field.fill("77")
    tab.get_by_label("Reason for the change").fill("Kept over a new sign-in")
    tab.wait_for_timeout(6_500)  # past its expiry and the verifier's 5 s of leeway
    tab.get_by_role("button", name="Save changes").click()
    expect(tab.locator("#token-error")).to_contain_text("Your unsaved changes are kept")
    assert app.thresholds(tenant) == before

    sign_in(tab, app.token())
    field = tab.locator(f"#t-{PFS}")
    expect(field).to_have_value("77")
    expect(tab.get_by_label("Reason for the change")).to_have_value("Kept over a new sign-in")
    expect(tab.locator("#status")).to_contain_text("are back")
    assert page.unexpected_errors(401) == []


def test_signing_out_with_changes_not_saved_asks_first(page: PageUnderTest) -> None:
    tenant = "apollo-chennai"
    tab = at_tenant(page, tenant)
    tab.locator(f"#t-{PFS}").fill("78")
    tab.once("dialog", lambda dialog: dialog.dismiss())
    tab.get_by_role("button", name="Sign out").click()
    expect(tab.locator("#session")).to_be_visible()
    expect(tab.locator(f"#t-{PFS}")).to_have_value("78")


def test_a_failed_load_can_be_tried_again_from_the_alert(page: PageUnderTest) -> None:
    """The flag provider out of reach once (503): the alert says so and offers to try
    again (by keyboard here), which loads the thresholds — choosing the same tenant again
    would do nothing."""
    app, tenant = page.app, "apollo-chennai"
    tab = open_page(page)
    failed: list[str] = []

    def unavailable_once(route: Any) -> None:
        if failed:
            route.continue_()
            return
        failed.append(route.request.url)
        body = {
            "success": False,
            "data": None,
            "errors": [{"code": "FLAGS_UNAVAILABLE", "message": "The flag provider is down."}],
            "meta": {"request_id": "req-once"},
        }
        route.fulfill(status=503, json=body)

    tab.route(re.compile(r".*/triage/thresholds\?.*"), unavailable_once)
    sign_in(tab, app.token())
    tab.get_by_label("Tenant", exact=True).select_option(tenant)
    alert = tab.locator("#alert")
    expect(alert).to_contain_text("FLAGS_UNAVAILABLE")
    expect(tab.locator("#thresholds-form")).to_be_hidden()
    alert.get_by_role("button", name="Try again").focus()
    tab.keyboard.press("Enter")
    expect(tab.locator("#thresholds-form")).to_be_visible()
    expect(alert).to_be_hidden()
    # The button went with the alert; the focus did not fall to the top of the page.
    expect(tab.get_by_label("Tenant", exact=True)).to_be_focused()
    assert len(failed) == 1


def test_a_change_someone_made_since_the_page_read_it_is_not_saved_over(
    page: PageUnderTest,
) -> None:
    """Another operator sets 90 while this page shows the default; saving 75 here is refused
    (409), the page reads the thresholds again with 75 kept in the field, and a second save
    then goes through over the value it now shows."""
    app, tenant = page.app, "apollo-chennai"
    tab = at_tenant(page, tenant)
    field = tab.locator(f"#t-{PFS}")
    shown = field.input_value()
    app.api(
        "PUT",
        "/triage/thresholds",
        json={"tenant_id": tenant, "values": {PFS: 90}, "reason": "Another operator's change"},
    )
    field.fill("75")
    tab.get_by_label("Reason for the change").fill("Mine, made on an old read")
    tab.get_by_role("button", name="Save changes").click()
    alert = tab.locator("#alert")
    expect(alert).to_contain_text("someone else changed it")
    expect(alert).to_contain_text(f"{PFS} is now 90")
    expect(field).to_have_value("75")
    assert app.thresholds(tenant)[PFS]["value"] == 90
    assert shown != "90"

    tab.get_by_role("button", name="Save changes").click()
    expect(tab.locator("#status")).to_contain_text("75")
    assert app.thresholds(tenant)[PFS]["value"] == 75
    assert page.unexpected_errors(409) == []


def test_a_save_whose_answer_is_lost_says_so_and_saving_again_saves_it_once(
    page: PageUnderTest,
) -> None:
    """The server saves but the connection drops before its answer arrives: the page does not
    claim the server was unreachable, and saving again is a success, not a conflict blamed on
    someone else; the change is audited once."""
    app, tenant = page.app, "acibadem-istanbul"
    tab = at_tenant(page, tenant)
    audited = len(app.audit(tenant))
    lost: list[str] = []

    def lose_the_first_answer(route: Any) -> None:
        if route.request.method != "PUT" or lost:
            route.continue_()
            return
        lost.append(route.fetch().status_text)  # the server has saved it
        route.abort("connectionreset")

    tab.route("**/api/v1/admin/triage/thresholds", lose_the_first_answer)
    field = tab.locator(f"#t-{PFS}")
    field.fill("81")
    tab.get_by_label("Reason for the change").fill("Saved once, answer lost")
    tab.get_by_role("button", name="Save changes").click()
    alert = tab.locator("#alert")
    expect(alert).to_contain_text("cannot tell whether the change was saved")
    expect(alert).to_be_focused()
    expect(field).to_have_value("81")
    assert app.thresholds(tenant)[PFS]["value"] == 81

    tab.get_by_role("button", name="Save changes").click()
    expect(tab.locator("#status")).to_contain_text("MSO PFS skip threshold is now 81")
    expect(alert).to_be_hidden()
    assert len(app.audit(tenant)) == audited + 1
    assert [e for e in page.unexpected_errors() if "ERR_CONNECTION_RESET" not in e] == []


def test_signing_in_by_keyboard_leaves_the_focus_on_the_tenant_picker(
    page: PageUnderTest,
) -> None:
    """The Sign in button disappears once used: the focus moves on to the tenant picker, not
    back to the top of the page, for a keyboard or screen reader user."""
    tab = open_page(page)
    token = tab.get_by_label("Bearer token")
    expect(token).to_be_focused()
    token.fill(page.app.token())
    tab.keyboard.press("Tab")
    expect(tab.get_by_role("button", name="Sign in")).to_be_focused()
    tab.keyboard.press("Enter")
    picker = tab.get_by_label("Tenant", exact=True)
    expect(picker).to_be_focused()
    tab.keyboard.press("End")  # a closed select takes the arrow keys as they come
    expect(tab.locator(".threshold")).to_have_count(len(THRESHOLDS))
    assert page.unexpected_errors() == []


def hold_saves(tab: Any) -> list[Any]:
    """Every save (PUT of the thresholds) the page sends from now on, held unanswered in the
    list returned until the test continues it; reads go through."""
    held: list[Any] = []
    tab.route(
        "**/api/v1/admin/triage/thresholds",
        lambda route: held.append(route) if route.request.method == "PUT" else route.continue_(),
    )
    return held


def test_a_slow_save_says_it_is_saving_and_enter_pressed_again_sends_nothing_more(
    page: PageUnderTest,
) -> None:
    app, tenant = page.app, "bumrungrad-bangkok"
    tab = at_tenant(page, tenant)
    held = hold_saves(tab)
    field = tab.locator(f"#t-{PFS}")
    field.fill("83")
    tab.get_by_label("Reason for the change").fill("Saved over a slow line")
    field.press("Enter")
    status = tab.locator("#status")
    expect(status).to_contain_text(f"Saving for {tenant}")
    expect(tab.get_by_role("button", name="Save changes")).to_be_disabled()
    field.press("Enter")
    expect(status).to_contain_text(f"Saving for {tenant}")

    assert len(held) == 1
    held[0].continue_()
    expect(status).to_contain_text("MSO PFS skip threshold is now 83")
    assert app.thresholds(tenant)[PFS]["value"] == 83
    assert page.unexpected_errors() == []


def live_regions(page: PageUnderTest) -> list[str]:
    """The roles of the polite live regions in the page's accessibility tree (what a screen
    reader watches for changes)."""
    cdp = page.page.context.new_cdp_session(page.page)
    nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    cdp.detach()
    return [
        node["role"]["value"]
        for node in nodes
        if not node.get("ignored")
        for live in node.get("properties", [])
        if live["name"] == "live" and live["value"]["value"] == "polite"
    ]


def test_a_screen_reader_hears_a_save_the_status_region_being_there_before_it(
    page: PageUnderTest,
) -> None:
    """A live region is announced when its text changes, not when it appears with its text:
    the status region is in the accessibility tree, empty, before the save it reports."""
    tenant = "acibadem-istanbul"
    tab = at_tenant(page, tenant)
    status = tab.locator("#status")
    expect(status).to_have_text("")
    assert live_regions(page) == ["status"]
    tab.locator(f"#t-{PFS}").fill("84")
    tab.get_by_label("Reason for the change").fill("Heard, not only seen")
    tab.get_by_role("button", name="Save changes").click()
    expect(status).to_contain_text("MSO PFS skip threshold is now 84")
    expect(tab.get_by_role("status")).to_contain_text("is now 84")
    assert page.unexpected_errors() == []


def test_a_load_the_network_failed_can_be_tried_again_from_the_alert(page: PageUnderTest) -> None:
    tab = open_page(page)
    failed: list[str] = []

    def fail_once(route: Any) -> None:
        if failed:
            route.continue_()
            return
        failed.append(route.request.url)
        route.abort("connectionrefused")

    tab.route(re.compile(r".*/triage/thresholds\?.*"), fail_once)
    sign_in(tab, page.app.token())
    tab.get_by_label("Tenant", exact=True).select_option("apollo-chennai")
    alert = tab.locator("#alert")
    expect(alert).to_contain_text("The server could not be reached")
    alert.get_by_role("button", name="Try again").click()
    expect(tab.locator(".threshold")).to_have_count(len(THRESHOLDS))
    expect(alert).to_be_hidden()
    assert len(failed) == 1


def test_a_save_the_server_never_answers_is_given_up_and_the_page_is_usable_again(
    page: PageUnderTest,
) -> None:
    """A hung server left the page saving for ever, every control disabled: after 30 s the
    page gives up, says the outcome is unknown, and the next save goes through."""
    app, tenant = page.app, "bumrungrad-bangkok"
    tab = page.page
    tab.clock.install()
    open_page(page)
    sign_in(tab, app.token())
    pick_tenant(tab, tenant)
    held: list[Any] = []

    def hang_the_first_save(route: Any) -> None:
        if route.request.method == "PUT" and not held:
            held.append(route)  # never answered
        else:
            route.continue_()

    tab.route("**/api/v1/admin/triage/thresholds", hang_the_first_save)
    tab.locator(f"#t-{PFS}").fill("85")
    tab.get_by_label("Reason for the change").fill("Saved through a hung server")
    save = tab.get_by_role("button", name="Save changes")
    save.click()
    expect(tab.locator("#status")).to_contain_text("Saving")
    expect(save).to_be_disabled()
    tab.clock.run_for("00:31")
    alert = tab.locator("#alert")
    expect(alert).to_contain_text("cannot tell whether the change was saved")
    expect(save).to_be_enabled()
    expect(tab.get_by_label("Tenant", exact=True)).to_be_enabled()

    save.click()
    expect(tab.locator("#status")).to_contain_text("MSO PFS skip threshold is now 85")
    assert app.thresholds(tenant)[PFS]["value"] == 85


def test_a_long_reason_is_seen_in_a_wide_field_and_one_too_long_is_refused_not_cut_short(
    page: PageUnderTest,
) -> None:
    """The reason field used to drop what was pasted past 500 characters without a word, and
    the shortened reason was saved; now all of it stays and the server's limit is shown. The
    field spans the form: a box of twenty characters hid most of a sentence."""
    app, tenant = page.app, "apollo-chennai"
    before = app.thresholds(tenant)
    tab = at_tenant(page, tenant)
    tab.locator(f"#t-{PFS}").fill("86")
    reason = tab.get_by_label("Reason for the change")
    reason.focus()
    pasted = "Ticket TRI-7: " + "the clinical board's full note. " * 20
    tab.keyboard.insert_text(pasted)
    expect(reason).to_have_value(pasted)
    box, form = reason.bounding_box(), tab.locator("#thresholds-form").bounding_box()
    assert box["width"] > form["width"] * 0.8, "a sentence is seen whole, not twenty characters"
    tab.get_by_role("button", name="Save changes").click()
    expect(tab.locator("#reason-error")).to_contain_text("must be at most 500 characters")
    expect(reason).to_be_focused()
    expect(reason).to_have_value(pasted)
    assert app.thresholds(tenant) == before
    assert page.unexpected_errors(422) == []


def test_at_320_pixels_wide_nothing_sticks_out_of_the_page_or_its_panel(
    page: PageUnderTest,
) -> None:
    """A phone, or the page zoomed to 400 % (WCAG's reflow): the tenant picker sized to its
    longest name and the thresholds' 17rem columns pushed the page into a sideways scroll."""
    tab = open_page(page)
    tab.set_viewport_size({"width": 320, "height": 800})
    sign_in(tab, page.app.token())
    pick_tenant(tab, "bumrungrad-bangkok")
    widths = tab.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths == [320, 320]
    sticking_out = tab.evaluate(
        """() => Array.from(document.querySelectorAll('.panel *')).filter((element) => {
            const inner = element.getBoundingClientRect();
            const panel = element.closest('.panel').getBoundingClientRect();
            const out = inner.right > panel.right + 0.5 || inner.left < panel.left - 0.5;
            return inner.width > 0 && out;
        }).map((element) => element.id || element.className || element.tagName)"""
    )
    assert sticking_out == []


def test_enter_after_pasting_a_token_signs_in(page: PageUnderTest) -> None:
    """The token box is several lines high (a token is long), but a token is one line: Enter
    signs in, as it would in a one-line field, instead of adding a line nobody sees."""
    tab = open_page(page)
    token = tab.get_by_label("Bearer token")
    token.fill(page.app.token())
    token.press("Enter")
    expect(tab.locator("#session")).to_be_visible()
    expect(tab.get_by_label("Tenant", exact=True)).to_be_focused()
    assert page.unexpected_errors() == []


def test_a_save_says_which_other_thresholds_someone_changed_since_the_page_read_them(
    page: PageUnderTest,
) -> None:
    """Another operator sets the risk threshold while this page shows its old value; saving
    another threshold here shows the new risk value, and says so instead of changing the
    field without a word."""
    app, tenant = page.app, "acibadem-istanbul"
    tab = at_tenant(page, tenant)
    risk = tab.get_by_label("Triage risk threshold", exact=True)
    was = risk.input_value()
    app.api(
        "PUT",
        "/triage/thresholds",
        json={"tenant_id": tenant, "values": {RISK: 0.74}, "reason": "Another operator's change"},
    )
    tab.get_by_label("MSO max offers per case", exact=True).fill("6")
    tab.get_by_label("Reason for the change").fill("Mine, on another threshold")
    tab.get_by_role("button", name="Save changes").click()
    status = tab.locator("#status")
    expect(status).to_contain_text("MSO max offers per case is now 6")
    expect(status).to_contain_text(
        f"Changed by someone else since this page read them: Triage risk threshold is now 0.74 "
        f"(was {was})"
    )
    expect(risk).to_have_value("0.74")
    assert page.unexpected_errors() == []


def test_a_missing_reason_and_a_value_out_of_range_are_both_shown_at_once(
    page: PageUnderTest,
) -> None:
    """The server used to name only the reason, and the value's error came one save later."""
    app, tenant = page.app, "apollo-chennai"
    before = app.thresholds(tenant)
    tab = at_tenant(page, tenant)
    field = tab.get_by_label("Triage risk threshold", exact=True)
    field.fill("1.5")
    tab.get_by_role("button", name="Save changes").click()
    expect(tab.locator(f"#t-{RISK}-error")).to_contain_text("at most 1")
    expect(tab.locator("#reason-error")).to_contain_text("Enter a reason")
    expect(tab.locator("#error-list li")).to_have_count(2)
    expect(field).to_be_focused()  # the first in the form
    assert app.thresholds(tenant) == before
    assert page.unexpected_errors(422) == []


def test_while_a_save_is_under_way_nothing_can_be_typed_that_its_answer_would_replace(
    page: PageUnderTest,
) -> None:
    """The answer to a save redraws the thresholds and empties the reason: a field edited
    while it was on its way would lose what was typed without a word, so every field is
    read-only (a box disabled) until the answer comes, and editable again after it."""
    app, tenant = page.app, "bumrungrad-bangkok"
    tab = at_tenant(page, tenant)
    held = hold_saves(tab)
    tab.locator(f"#t-{PFS}").fill("82")
    reason = tab.get_by_label("Reason for the change")
    reason.fill("Saved while nothing else is typed")
    tab.get_by_role("button", name="Save changes").click()
    expect(tab.locator("#status")).to_contain_text(f"Saving for {tenant}")
    boxes = tab.locator("#thresholds input[type=checkbox]")
    for field in (tab.locator(f"#t-{RISK}"), tab.locator(f"#t-{PFS}"), reason):
        expect(field).not_to_be_editable()
    assert boxes.count() > 0
    for index in range(boxes.count()):
        expect(boxes.nth(index)).to_be_disabled()

    held[0].continue_()
    expect(tab.locator("#status")).to_contain_text("MSO PFS skip threshold is now 82")
    for field in (tab.locator(f"#t-{RISK}"), tab.locator(f"#t-{PFS}"), reason):
        expect(field).to_be_editable()
    for index in range(boxes.count()):
        expect(boxes.nth(index)).to_be_enabled()
    assert app.thresholds(tenant)[PFS]["value"] == 82
    assert page.unexpected_errors() == []


def test_a_tenant_created_while_the_picker_loads_is_listed_once_and_none_is_missed(
    page: PageUnderTest,
) -> None:
    """The picker reads the tenants 200 at a time. A tenant created between two of its reads
    (before the place it reached: a replica whose clock lags) shifts an offset by one, which
    listed one tenant twice; following each page's `next_cursor` lists each one once."""
    listed = [f"t{n:03d}" for n in range(1, 202)]  # one more than a page
    asked: list[str] = []

    def tenants(route: Any) -> None:
        url = route.request.url
        asked.append(url)
        if len(asked) == 2:
            listed.insert(0, "t000")  # created before the second read, sorted first
        query = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
        limit = int(query.get("limit", "50"))
        if "cursor" in query:
            start = listed.index(query["cursor"]) + 1
        else:
            start = int(query.get("offset", "0"))
        items = listed[start : start + limit]
        following = items[-1] if start + limit < len(listed) else None
        data = {
            "tenants": [{"id": t, "name": t, "status": "active"} for t in items],
            "total": len(listed),
            "limit": limit,
            "offset": start,
            "next_cursor": following,
        }
        route.fulfill(json={"success": True, "data": data, "meta": {"request_id": "r"}})

    tab = open_page(page)
    tab.route("**/api/v1/admin/tenants?*", tenants)
    sign_in(tab, page.app.token())
    expect(tab.locator("#tenant option")).not_to_have_count(0)
    labels = [label for label in tab.locator("#tenant option").all_inner_texts() if "—" in label]
    ids = [label.split(" — ")[0] for label in labels]
    assert len(asked) == 2, asked
    assert sorted(set(ids)) == sorted(ids), "a tenant listed twice"
    assert set(ids) >= {f"t{n:03d}" for n in range(1, 202)}
    assert page.unexpected_errors() == []
