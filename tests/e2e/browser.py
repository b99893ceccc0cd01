"""Headless Chromium for the web client's tests: Debian's browser driven by Playwright for Python.

Playwright cannot download its own browsers here (and CI must not depend on a download), so it drives the
system's Chromium through ``executable_path``; ``CHATSITE_CHROMIUM`` names another binary. The async API,
because the sync one marks an event loop as running on the test's thread for as long as the browser lives,
and Django then refuses the test database's own set-up and flush there.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.e2e.servers import Server

CHROMIUM = os.environ.get("CHATSITE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-partial-raster",  # whole tiles: the same page gives the same screenshot, byte for byte
]
# Every wait is bounded: a client that hangs fails its own test, never the run.
WAIT_MS = 15_000


async def chromium(require: bool) -> AsyncIterator[Browser]:
    """One browser for a whole test module; a context per test keeps the tests apart."""
    if not os.access(CHROMIUM, os.X_OK):
        message = f"no Chromium at {CHROMIUM}: apt-get install chromium (or set CHATSITE_CHROMIUM)"
        if require:
            pytest.fail(message + ", and CHATSITE_REQUIRE_SERVICES=1 forbids skipping", pytrace=False)
        pytest.skip(message)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@dataclass
class Tabs:
    """The pages of one browser profile (one localStorage), and the script errors any of them raised."""

    context: BrowserContext
    errors: list[str] = field(default_factory=list)

    async def open(self, server: Server) -> Page:
        page = await self.context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        await page.goto(f"{server.url}/")
        await expect(page.get_by_test_id("usage")).to_have_text(re.compile(r"\S"))  # the socket is connected
        return page


async def send(page: Page, text: str) -> None:
    """Type into the composer and press Enter, as a person would."""
    await page.get_by_test_id("composer").fill(text)
    await page.get_by_test_id("composer").press("Enter")
