"""The reference web client at /, in headless Chromium against real server processes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Locator, Page, expect

from tests.conftest import REQUIRE_SERVICES
from tests.e2e.browser import WAIT_MS, Tabs, chromium, send

# One event loop for the module, so that one browser serves every test.
pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "client.png"
SLOW_TEXT = " ".join(f"tok{i}" for i in range(100))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async for browser in chromium(require=REQUIRE_SERVICES):
        yield browser


@pytest_asyncio.fixture(loop_scope="module")
async def tabs(browser: Browser) -> AsyncIterator[Tabs]:
    context = await browser.new_context(viewport={"width": 1000, "height": 640})
    context.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    opened = Tabs(context)
    yield opened
    await context.close()
    assert opened.errors == [], "the page raised script errors"


@pytest.fixture
def slow_model(fake_model: Any) -> str:
    """Five seconds of answer: time enough, even on a busy machine, to reload or stop in the middle of it."""
    fake_model(name="slow", upstream_model="fake:tokens=100:delay_ms=50")
    return "slow"


@pytest.fixture
def broken_model(fake_model: Any) -> str:
    """A provider that answers every request with HTTP 500."""
    fake_model(name="broken", upstream_model="fake:status=500")
    return "broken"


def answers(page: Page) -> Locator:
    return page.locator("[data-testid=message][data-role=assistant]")


def text_of(message: Locator) -> Locator:
    return message.get_by_test_id("message-text")


async def test_a_guest_sends_and_sees_the_answer_stream(servers: Any, tabs: Tabs) -> None:
    page = await tabs.open(servers(ECHO_DELAY_MS="100"))  # two seconds of answer: seen while it streams
    await expect(page.get_by_test_id("usage")).to_have_text("10 of 10 free messages left")
    question = "Plan a weekend in Lisbon: two museums, a viewpoint at sunset and somewhere good for grilled fish"

    await send(page, question)

    answer = answers(page).last
    await expect(answer).to_have_attribute("data-status", "streaming")
    await expect(text_of(answer)).to_contain_text("You said: Plan")
    await expect(answer).to_have_attribute("data-status", "complete")
    await expect(text_of(answer)).to_have_text(f"You said: {question}")
    await expect(page.locator("[data-testid=message][data-role=user]")).to_have_count(1)
    await expect(page.get_by_test_id("usage")).to_have_text("9 of 10 free messages left")
    await expect(page.get_by_test_id("chat-item")).to_have_text([re.compile("Plan a weekend in Lisbon")])

    await send(page, "And if it rains on Sunday?")
    await expect(answers(page)).to_have_count(2)
    await expect(answers(page).last).to_have_attribute("data-status", "complete")
    await expect(text_of(answers(page).last)).to_have_text("You said: And if it rains on Sunday?")
    composer = page.get_by_test_id("composer")
    await composer.fill("Which of the museums open on Mondays?")
    await composer.press("Shift+Enter")  # a new line, not a send
    await composer.press_sequentially("And which are free?")
    await expect(composer).to_have_value("Which of the museums open on Mondays?\nAnd which are free?")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    await page.screenshot(path=SCREENSHOT)


async def test_a_failed_answer_says_why_and_regenerate_answers_again(
    servers: Any, broken_model: str, tabs: Tabs
) -> None:
    page = await tabs.open(servers())
    await page.get_by_test_id("model").select_option(broken_model)

    await send(page, "are you there?")

    await expect(answers(page).last).to_have_attribute("data-status", "failed")
    await expect(answers(page).last).to_contain_text("UPSTREAM_ERROR")
    await expect(page.get_by_test_id("error")).to_contain_text("The answer failed")
    await expect(page.get_by_test_id("usage")).to_have_text("10 of 10 free messages left")  # given back
    await page.get_by_test_id("model").select_option("echo")
    await answers(page).last.get_by_role("button", name="Regenerate").click()
    await expect(answers(page).last).to_have_attribute("data-status", "complete")
    await expect(text_of(answers(page).last)).to_have_text("You said: are you there?")
    await expect(answers(page).last).to_contain_text("version 2 of 2")
    await expect(answers(page)).to_have_count(1)


async def test_a_reload_in_the_middle_of_an_answer_shows_it_whole_and_once(
    servers: Any, slow_model: str, tabs: Tabs
) -> None:
    page = await tabs.open(servers())
    await page.get_by_test_id("model").select_option(slow_model)
    await send(page, "count for me")
    await expect(text_of(answers(page).last)).to_contain_text("tok5")

    await page.reload()

    answer = answers(page).last
    await expect(answer).to_have_attribute("data-status", "streaming")  # the text so far, and then the rest
    await expect(text_of(answer)).to_contain_text("tok5")
    await expect(answer).to_have_attribute("data-status", "complete")
    await expect(text_of(answer)).to_have_text(SLOW_TEXT)
    await expect(answers(page)).to_have_count(1)
    await expect(page.get_by_test_id("chat-item")).to_have_count(1)


async def test_stop_leaves_a_stopped_answer_with_the_text_so_far(servers: Any, slow_model: str, tabs: Tabs) -> None:
    page = await tabs.open(servers())
    await page.get_by_test_id("model").select_option(slow_model)
    await send(page, "count for me")
    await expect(text_of(answers(page).last)).to_contain_text("tok2")

    await page.get_by_test_id("stop").click()

    answer = answers(page).last
    await expect(answer).to_have_attribute("data-status", "stopped")
    text = await text_of(answer).text_content() or ""
    assert text.startswith("tok0 tok1 tok2") and SLOW_TEXT.startswith(text) and text != SLOW_TEXT
    await expect(page.get_by_test_id("stop")).to_be_hidden()
    await expect(page.get_by_test_id("send")).to_be_visible()


async def test_a_second_tab_sees_the_new_chat_appear(servers: Any, tabs: Tabs) -> None:
    server = servers()
    first, second = await tabs.open(server), await tabs.open(server)
    await expect(second.get_by_test_id("chat-item")).to_have_count(0)

    await send(first, "hello from the first tab")

    await expect(second.get_by_test_id("chat-item")).to_have_count(1)
    await expect(second.get_by_test_id("chat-item")).to_have_text([re.compile("hello from the first tab")])
    await expect(second.get_by_test_id("usage")).to_have_text("9 of 10 free messages left")
    await second.get_by_test_id("chat-item").get_by_role("button", name="hello from the first tab", exact=True).click()
    await expect(text_of(answers(second).last)).to_have_text("You said: hello from the first tab")


async def test_the_free_message_limit_offers_to_sign_up(servers: Any, tabs: Tabs) -> None:
    page = await tabs.open(servers(ANON_MESSAGE_LIMIT="1"))
    await send(page, "my one free message")
    await expect(answers(page).last).to_have_attribute("data-status", "complete")
    await expect(page.get_by_test_id("usage")).to_have_text("0 of 1 free messages left")

    await send(page, "one more")

    error = page.get_by_test_id("error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("You used all free messages")
    await expect(page.get_by_test_id("composer")).to_have_value("one more")  # nothing typed is lost
    await expect(page.locator("[data-testid=message][data-role=user]")).to_have_count(1)
    await error.get_by_role("button", name="Sign up").click()
    await expect(page.get_by_role("dialog", name="Sign up")).to_be_visible()


async def test_signing_up_keeps_the_guests_chats(servers: Any, tabs: Tabs) -> None:
    page = await tabs.open(servers())
    await send(page, "remember this chat")
    await expect(answers(page).last).to_have_attribute("data-status", "complete")

    await page.get_by_test_id("sign-up").click()
    dialog = page.get_by_role("dialog", name="Sign up")
    await dialog.get_by_label("Username").fill("carol")
    await dialog.get_by_label("Password").fill("a long passphrase")
    await dialog.get_by_role("button", name="Sign up").click()

    await expect(page.locator("#account-name")).to_have_text("carol")
    await expect(page.get_by_test_id("sign-up")).to_be_hidden()
    await expect(page.get_by_test_id("usage")).to_have_text("0.5 credits")
    await page.reload()  # the session and the chats both outlive a reload
    await expect(page.locator("#account-name")).to_have_text("carol")
    await expect(page.get_by_test_id("chat-item")).to_have_text([re.compile("remember this chat")])
    await expect(text_of(answers(page).last)).to_have_text("You said: remember this chat")


async def test_html_in_an_answer_is_shown_as_text_and_never_runs(servers: Any, tabs: Tabs) -> None:
    server = servers(DJANGO_DEBUG="0")  # as in production: the page and its static files without debug
    page = await tabs.open(server)
    attack = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"

    await send(page, attack)

    answer = answers(page).last
    await expect(answer).to_have_attribute("data-status", "complete")
    await expect(text_of(answer)).to_have_text(f"You said: {attack}")
    await expect(page.locator("#messages img, #messages script")).to_have_count(0)
    assert await page.title() == "chatsite"
    response = await page.request.get(f"{server.url}/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
