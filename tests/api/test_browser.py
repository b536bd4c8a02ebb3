"""The dashboard in headless Chromium (Debian's, driven by Playwright) against a real
``kentongan serve``: open the board, click into Glagah and a village, read what a
programme manager would read, switch language; keep screenshots."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.api.conftest import build_db
from tests.support.ports import free_port

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``kentongan serve`` (uvicorn, poller off) over the sample fleet, on a free port."""
    tmp = tmp_path_factory.mktemp("browser")
    url, engine = build_db(tmp / "kentongan.db")
    engine.dispose()
    port = free_port()
    env = {**os.environ, "KENTONGAN_DATABASE_URL": url, "KENTONGAN_RUN_POLLER": "false",
           "KENTONGAN_LOG_LEVEL": "WARNING"}
    log = (tmp / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kentongan.cli", "serve", "--host", "127.0.0.1", "--port",
         str(port), "--no-poll"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"kentongan serve exited: {(tmp / 'serve.log').read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("kentongan serve did not answer within 30 s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing (scripts/install-system-deps.sh)"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    p = context.new_page()
    yield p
    context.close()


def test_board_to_village_as_a_programme_manager(server: str, page: Page,
                                                 tmp_path: Path) -> None:
    page.goto(f"{server}/?lang=en")
    expect(page.locator("h1")).to_have_text("Regency readiness board")
    expect(page.locator("#totals")).to_contain_text("217")
    glagah = page.locator('#districts tr[data-district="35.10.15"]')
    expect(glagah).to_contain_text("Glagah")
    expect(page.locator("svg.map circle")).to_have_count(217 + 25)
    page.screenshot(path=str(tmp_path / "board.png"), full_page=True)

    glagah.get_by_role("link", name="Glagah").click()
    expect(page.locator("h1")).to_contain_text("Glagah")
    expect(page.locator("#totals")).to_contain_text("10")
    kemiren = page.locator('#villages tr[data-village="35.10.15.2004"]')
    expect(kemiren).to_contain_text("Qualified")
    kenjo = page.locator('#villages tr[data-village="35.10.15.2011"]')
    expect(kenjo).to_contain_text("Not qualified")
    expect(kenjo).to_contain_text("No lactation room")
    olehsari = page.locator('#villages tr[data-village="35.10.15.2005"]')
    expect(olehsari).to_contain_text("Uplink fo-glagah-olehsari is down")
    page.screenshot(path=str(tmp_path / "glagah.png"), full_page=True)

    kenjo.get_by_role("link", name="Kenjo").click()
    expect(page.locator("h1")).to_contain_text("Kenjo")
    expect(page.locator("#verdict")).to_contain_text("Not qualified")
    expect(page.locator("#verdict")).to_contain_text("WIB")
    expect(page.locator("#blocking")).to_contain_text("No lactation room")
    row = page.locator('#checks tr[data-check="facilities.lactation_room"]')
    expect(row).to_contain_text("fail")
    expect(row).to_contain_text("attested_by")
    expect(page.locator('#checks tr[data-check="network.uplink_up"]')).to_contain_text("pass")
    expect(page.locator("#links")).to_contain_text("fo-glagah-kenjo")
    expect(page.locator("#devices")).to_contain_text("kiosk-kenjo-1")
    expect(page.locator("#history")).to_contain_text("Not qualified")
    page.screenshot(path=str(tmp_path / "kenjo-en.png"), full_page=True)

    page.get_by_role("link", name="Bahasa Indonesia").click()
    expect(page.locator("#verdict")).to_contain_text("Belum memenuhi")
    expect(page.locator("#blocking")).to_contain_text("ruang laktasi")
    page.goto(f"{server}/")  # the language sticks (cookie)
    expect(page.locator("h1")).to_have_text("Papan kesiapan kabupaten")
    shots = os.environ.get("KENTONGAN_SCREENSHOT_DIR")
    if shots:
        for name in ("board.png", "glagah.png", "kenjo-en.png"):
            shutil.copy(tmp_path / name, Path(shots) / name)
    assert (tmp_path / "kenjo-en.png").stat().st_size > 10_000


def test_blocked_upstream_is_shown_as_such(server: str, page: Page) -> None:
    page.goto(f"{server}/kecamatan/35.10.24?lang=en")
    expect(page.locator("h1")).to_contain_text("Licin")
    first = page.locator("#villages tbody tr").first
    expect(first).to_contain_text("Unknown")
    first.get_by_role("link").click()
    row = page.locator('#checks tr[data-check="kiosk.online"]')
    expect(row).to_contain_text("blocked upstream")
    expect(row).to_contain_text("fo-noc-licin")


def test_api_docs_render_offline(server: str, page: Page) -> None:
    """/docs draws the API from assets the server ships: every request the page
    makes stays on the server (others are refused), and Swagger UI lists the operations."""
    foreign: list[str] = []

    def only_local(route: object) -> None:
        request = route.request  # type: ignore[attr-defined]
        if request.url.startswith(server):
            route.continue_()  # type: ignore[attr-defined]
        else:
            foreign.append(request.url)
            route.abort()  # type: ignore[attr-defined]

    page.route("**/*", only_local)
    page.goto(f"{server}/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)
    assert page.locator(".opblock").count() > 20
    page.wait_for_load_state("networkidle")
    assert foreign == [], f"the docs pages fetched from elsewhere: {foreign}"
