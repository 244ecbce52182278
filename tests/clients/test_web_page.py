"""The web page at chat's ``/`` in real headless Chromium against the running stack, used the
way a person uses it: send, watch the reply stream, see a memory appear live, stop a reply,
reload and read the history, delete the session. Screenshots go to docs/images/."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser import chromium
from tests.clients.conftest import ScriptedStack
from tests.clients.model_server import HOLD, ScriptedModel

pytestmark = pytest.mark.clients
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def open_page(
    browser: Browser, chat_url: str, *, width: int, height: int
) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport={"width": width, "height": height})
    page: Page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(chat_url + "/")
    return page, problems


def use_user(page: Page, user_id: str) -> None:
    page.get_by_label("User id").fill(user_id)
    page.get_by_role("button", name="Use").click()
    expect(page.locator("body")).to_have_attribute("data-connected", "true")


def send(page: Page, text: str) -> None:
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def test_a_conversation_streams_remembers_live_stops_reloads_and_is_deleted(
    browser: Browser, chat_url: str
) -> None:
    page, problems = open_page(browser, chat_url, width=1280, height=800)
    user = f"web-{uuid.uuid4().hex[:10]}"
    use_user(page, user)
    expect(page.locator("#sessions")).to_contain_text("No sessions yet.")
    expect(page.locator("#memories")).to_contain_text("Nothing remembered yet.")

    # The reply streams: the Stop button is live and the text grows before the turn ends.
    send(page, "Hello! Tell me something about tea, please.")
    reply = page.locator("#log li.assistant").last
    expect(page.get_by_role("button", name="Stop")).to_be_enabled()
    expect(reply).to_have_attribute("aria-busy", "true")
    expect(reply.locator(".text")).not_to_be_empty()
    partial = (reply.locator(".text").text_content() or "").strip()  # rendered: <p>…</p>\n
    expect(reply).not_to_have_attribute("aria-busy", "true", timeout=30_000)
    final = (reply.locator(".text").text_content() or "").strip()
    assert final.startswith(partial), (partial, final)
    assert len(final) > len(partial), "the reply came whole, not streamed"
    expect(page.get_by_role("button", name="Stop")).to_be_disabled()
    expect(page.locator("#sessions .open")).to_have_count(1)

    # A memory appears in the panel live, from the socket's memory message (no refresh).
    send(page, "Remember that I like green tea.")
    expect(page.locator("#memories li", has_text="green tea").first).to_be_visible(timeout=20_000)
    expect(page.locator("#log li.assistant").last).not_to_have_attribute("aria-busy", "true")
    fact = page.locator("#memories li", has_text="green tea").first
    fact.get_by_role("button", name="History").click()
    expect(fact.locator(".history li").first).to_contain_text("add")
    expect(fact.get_by_role("button", name="History")).to_have_attribute("aria-expanded", "true")

    # Stop: the reply ends marked interrupted.
    send(page, "Please write a long story about " + "a teapot and a kettle " * 20)
    stopping = page.locator("#log li.assistant").last
    expect(stopping.locator(".text")).not_to_be_empty()
    page.get_by_role("button", name="Stop").click()
    expect(stopping.locator(".marker", has_text="interrupted")).to_be_visible(timeout=15_000)
    page.screenshot(path=str(IMAGES / "web-desktop.png"))

    # Reload: the same user (kept in the browser), the session's history from the server.
    page.reload()
    expect(page.get_by_label("User id")).to_have_value(user)
    page.locator("#sessions .open").first.click()
    expect(page.locator("#log li.user")).to_have_count(3)
    expect(page.locator("#log li.user .text").nth(1)).to_have_text(
        "Remember that I like green tea."
    )
    expect(page.locator("#log li.assistant .marker", has_text="interrupted")).to_have_count(1)

    # Search, then forget the memory from the panel.
    page.get_by_label("Search memories").fill("green tea")
    page.get_by_role("button", name="Search").click()
    hit = page.locator("#memories li", has_text="green tea").first
    expect(hit).to_contain_text("score")
    before = page.locator("#memories li").count()
    hit.get_by_role("button", name="Forget").click()
    expect(page.locator("#memories li")).to_have_count(before - 1)

    # Delete the session (after the confirmation).
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete session").first.click()
    expect(page.locator("#sessions")).to_contain_text("No sessions yet.")
    expect(page.locator("#log li")).to_have_count(0)
    assert problems == []


def test_the_page_works_at_375_px_with_the_keyboard_alone(browser: Browser, chat_url: str) -> None:
    page, problems = open_page(browser, chat_url, width=375, height=812)
    use_user(page, f"narrow-{uuid.uuid4().hex[:8]}")
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways at 375 px ({width} px wide)"
    # Keyboard only, from a fresh load: the skip link comes first and leads to the message
    # box, and Enter sends.
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-connected", "true")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the message box")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Message", exact=True)).to_be_focused()
    page.keyboard.type("Hi from a phone")
    page.keyboard.press("Enter")
    reply = page.locator("#log li.assistant").last
    expect(reply).not_to_have_attribute("aria-busy", "true", timeout=30_000)
    expect(reply.locator(".text")).not_to_be_empty()
    page.screenshot(path=str(IMAGES / "web-narrow.png"), full_page=True)
    assert problems == []


def test_errors_are_said_on_the_page(browser: Browser, chat_url: str) -> None:
    page, problems = open_page(browser, chat_url, width=1024, height=700)
    use_user(page, f"errors-{uuid.uuid4().hex[:8]}")
    # A user id the API refuses never leaves the page: the field says it is invalid.
    user = page.get_by_label("User id").input_value()
    page.get_by_label("User id").fill("not valid!")
    page.get_by_role("button", name="Use").click()
    assert page.get_by_label("User id").evaluate("e => e.validity.patternMismatch")
    assert page.evaluate("localStorage.getItem('agent-chat.user-id')") == user
    # Too long for the API: said on the page, nothing sent, the text kept to shorten.
    box = page.get_by_label("Message", exact=True)
    box.evaluate("(e, v) => { e.value = v; }", "y" * 8001)  # past the box's own maxlength
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status")).to_contain_text("the limit is 8000")
    expect(box).to_have_value("y" * 8001)
    expect(page.locator("#log li")).to_have_count(0)
    page.get_by_label("Remember").evaluate("(e, v) => { e.value = v; }", "z" * 4001)
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("status")).to_contain_text("at most 4000 characters")
    # A long unbroken word in the status line wraps: the page never scrolls sideways.
    page.get_by_label("Remember").fill("w" * 600)
    page.get_by_role("button", name="Add").click()
    expect(page.locator("#memories li", has_text="w" * 100).first).to_be_visible()
    long_word = "v" * 600
    page.evaluate("(v) => { document.getElementById('status').textContent = v; }", long_word)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 1024
    # The server gone: the page says so, and how to fix it.
    page.route("**/users/**", lambda route: route.abort())
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator("#memories")).to_contain_text("Cannot reach the chat service")
    assert problems == [] or all("net::ERR_FAILED" in p for p in problems), problems


#: A model's reply in Markdown, with what must never become HTML. It stops half-way through its
#: code block (HOLD) until the test lets it go.
MARKDOWN_REPLY = (
    "To brew it:\n\n- **Boil** the water\n- Steep it for *three* minutes\n\n"
    "```python\nprint('<b>tea</b>')\n" + HOLD + "steep(minutes=3)\n```\n\n"
    "| tea | minutes |\n|:--|--:|\n| green | 2 |\n\n"
    "Read [the guide](https://example.com/tea), not [this](javascript:alert(1)).\n\n"
    '<img src=x onerror="window.__pwned=1">\n'
)


def check_rendered(reply: Locator) -> None:
    """``MARKDOWN_REPLY`` whole, as DOM: no element the reply did not make through Markdown."""
    text = reply.locator(".text")
    expect(text.locator("ul > li")).to_have_text(["Boil the water", "Steep it for three minutes"])
    expect(text.locator("li strong")).to_have_text("Boil")
    expect(text.locator("pre > code")).to_have_text("print('<b>tea</b>')\nsteep(minutes=3)\n")
    expect(text.locator("pre b")).to_have_count(0)  # the code's markup is text
    expect(text.locator("td.align-right")).to_have_text("2")  # alignment as a class, not style
    link = text.get_by_role("link", name="the guide")
    expect(link).to_have_attribute("href", "https://example.com/tea")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(text.locator("a")).to_have_count(1)  # the javascript: one is not a link
    expect(text).to_contain_text("[this](javascript:alert(1))")
    expect(text.locator("img")).to_have_count(0)
    expect(text).to_contain_text('<img src=x onerror="window.__pwned=1">')  # shown as text
    assert reply.page.evaluate("typeof window.__pwned") == "undefined"


def test_a_reply_in_markdown_is_rendered_and_nothing_in_it_runs(
    browser: Browser, scripted: ScriptedStack, model: ScriptedModel
) -> None:
    page, problems = open_page(browser, scripted.chat_url, width=1280, height=800)
    use_user(page, f"markdown-{uuid.uuid4().hex[:8]}")
    model.script(MARKDOWN_REPLY)
    send(page, "How do I brew green tea?")
    reply = page.locator("#log li.assistant").last
    # Half-way, still streaming: the list is a list, and the open code fence already a block.
    expect(reply.locator(".text pre > code")).to_have_text("print('<b>tea</b>')\n")
    expect(reply).to_have_attribute("aria-busy", "true")
    expect(reply.locator(".text ul > li")).to_have_count(2)
    model.release()
    expect(reply).not_to_have_attribute("aria-busy", "true", timeout=30_000)
    check_rendered(reply)
    # The same from the session's history, after a reload.
    page.reload()
    page.locator("#sessions .open").first.click()
    check_rendered(page.locator("#log li.assistant").last)
    assert problems == []  # no CSP violation, no error
