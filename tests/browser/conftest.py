"""Fixtures for the browser tests: one board process and one headless Chromium for the module."""

from __future__ import annotations

import pytest
import pytest_asyncio
from playwright.async_api import async_playwright

from sinks.redis_live import LiveAlerts
from tests.browser.boardkit import BoardProcess, launch_chromium
from tests.integration.wecomkit import wecom  # noqa: F401 - the WeCom stand-in fixture, one per module


@pytest.fixture(scope="session")
def board(stack, tmp_path_factory):
    b = BoardProcess(tmp_path_factory.mktemp("board")).start()
    yield b
    b.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium():
    async with async_playwright() as p:
        browser = await launch_chromium(p)
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="session")
async def live(stack):
    """Puts alerts into Redis the way the worker does."""
    client = LiveAlerts(stack.redis)
    yield client
    await client.close()
