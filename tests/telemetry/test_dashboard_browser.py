"""The dashboard in headless Chromium: it loads offline, shows real requests, and is screenshotted."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelyard.engine import Engine
from modelyard.server import create_app
from tests.server.server_harness import serve
from tests.telemetry.conftest import SIM, config

CHROMIUM = os.environ.get("MODELYARD_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOT_DIR = Path(os.environ.get("MODELYARD_SCREENSHOTS", "test-artifacts"))

YAML = (
    SIM
    + """
  flaky: {family: slm, provider: sim, options: {failure_rate: 1.0}}
routers:
  default: {kind: fixed, target: tiny}
  deep: {kind: fixed, target: large}
resilience:
  fallbacks: {flaky: [medium]}
"""
)


@pytest.fixture
def gateway() -> Iterator[str]:
    with serve(create_app(Engine(config(YAML)))) as url:
        yield url


def test_dashboard_shows_live_requests(gateway: str) -> None:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install playwright (no browser download)"
    )
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM}; apt-get install chromium")
    for model, n in (("default", 4), ("deep", 2), ("flaky", 1)):
        for i in range(n):
            body = {"model": model, "messages": [{"role": "user", "content": f"question {i}"}]}
            assert httpx.post(f"{gateway}/v1/chat/completions", json=body).status_code == 200
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            outside: list[str] = []
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(gateway) else None)
            page.goto(f"{gateway}/dashboard")
            page.wait_for_selector("body[data-loaded='true']", timeout=10_000)
            assert page.inner_text("#requests-total") == "7"
            latest = page.inner_text("#latest tbody")
            assert "flaky → medium" not in latest and "medium" in latest and "large" in latest
            assert "fallback" in latest  # the decision explanation includes the fallback event
            models = page.inner_text("#by-model tbody")
            assert "tiny" in models and "slm" in models and "llm" in models
            assert page.locator("#chart-timeline rect").count() >= 1
            assert page.locator("#chart-latency-model rect").count() == 2 * 3  # p50 + p95 for 3 models
            assert "flaky" in page.inner_text("#breakers tbody")
            assert outside == []  # works offline: nothing but the gateway was fetched
            SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
            shot = SCREENSHOT_DIR / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
