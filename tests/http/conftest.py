"""Fixtures of the HTTP tests: one Chromium per test module for the browser tests (skipped with
the reason when Playwright or Debian's Chromium is absent)."""

from __future__ import annotations

import pytest

from tests.browser import browser_missing, launch_chromium


@pytest.fixture(scope="module")
def chromium():
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()
