"""Real headless Chromium for the tests that drive the web page: Debian's `chromium`
(scripts/install-chromium.sh), driven by Playwright through ``executable_path``; Playwright's
own browser download is never used."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, sync_playwright


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: run scripts/install-chromium.sh (make test does)")
    return found


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium, closed on exit whatever happens."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            # As root (CI here) Chromium's sandbox cannot start; the pages are our own.
            args=["--no-sandbox"],
        )
        try:
            yield browser
        finally:
            browser.close()
