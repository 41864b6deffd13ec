"""One server and one headless Chromium per module; a fresh browser context per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.live import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    LiveApp,
    PageUnderTest,
    chromium_executable,
    serve,
)


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    with serve(tmp_path_factory.mktemp("live-app")) as app:
        yield app


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, live_app: LiveApp) -> Iterator[PageUnderTest]:
    """A tab of its own context (its own sessionStorage), recording console errors."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    under_test = PageUnderTest(page=tab, app=live_app)

    def on_console(message: Any) -> None:
        if message.type in ("error", "warning"):
            under_test.console_errors.append(f"{message.type}: {message.text} {message.location}")

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: under_test.page_errors.append(str(error)))
    try:
        yield under_test
    finally:
        context.close()
