"""The pages in a real browser (Debian's Chromium, headless) against the real server."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Route,
    expect,
    sync_playwright,
)

from dashboards import PAGES
from tests.dashboards.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Deployment, wait_for

# 1366×768 is the commonest office laptop screen; 820×1180 an iPad Air in portrait; 2560×1440
# a control-room wall screen.
SIZES = {"laptop": (1366, 768), "tablet": (820, 1180), "wall": (2560, 1440)}
# Long enough for a page to load its data and draw its charts on a loaded 2-core machine.
TIMEOUT_MS = 15_000


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, which would break every asyncio test collected after this module. All
# browser tests live in this module, so it is still one browser for the run.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@dataclass
class Console:
    """Console errors and uncaught exceptions of a page."""

    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} at {message.location.get('url')}")

    def on_error(self, error: Exception) -> None:
        self.errors.append(f"uncaught: {error}")


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, Console]]:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    console = Console()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_error)
    yield page, console
    context.close()


def _ready_selector(name: str, d: Deployment) -> str:
    return {
        "overview": f"tr[data-site='{d.site}'] [data-testid='site-occupancy']",
        "site": "[data-testid='room-occupancy-nursery']",
        "alerts": "#alert-table",
        "utilization": "[data-testid='heatmap'] canvas",
        "compliance": "[data-testid='scorecard'] tr[data-norm]",
        "inspections": "[data-testid='due'] table",
        "signin": "[data-testid='demo-notice']",
    }[name]


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_renders_without_console_errors(
    deployment: Deployment, browser: Browser, size: str
) -> None:
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    try:
        p = context.new_page()
        p.set_default_timeout(TIMEOUT_MS)
        console = Console()
        p.on("console", console.on_console)
        p.on("pageerror", console.on_error)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for name in PAGES:
            path = "/ui/" if name == "overview" else f"/ui/{name}?site={deployment.site}"
            p.goto(f"{deployment.server.url}{path}")
            p.wait_for_selector(_ready_selector(name, deployment))
            assert p.locator("h1").inner_text().strip(), f"{name} has no title"
            p.screenshot(path=str(ARTIFACTS / f"{name}-{size}.png"), full_page=True)
            assert console.errors == [], f"{name} at {size}: {console.errors}"
            if size != "laptop":
                continue
            title_zh = p.locator("h1").inner_text()
            sep = "&" if "?" in path else "?"
            p.goto(f"{deployment.server.url}{path}{sep}lang=en")
            p.wait_for_selector(_ready_selector(name, deployment))
            assert p.locator("h1").inner_text() != title_zh
            assert p.locator("html").get_attribute("lang") == "en"
            p.screenshot(path=str(ARTIFACTS / f"{name}-{size}-en.png"), full_page=True)
            assert console.errors == [], f"{name} at {size} in English: {console.errors}"
    finally:
        context.close()


def test_site_occupancy_changes_without_reload(
    deployment: Deployment, page: tuple[Page, Console]
) -> None:
    p, console = page
    d = deployment
    p.goto(f"{d.server.url}/ui/site?site={d.site}")
    nursery = p.get_by_test_id("room-occupancy-nursery")
    canteen = p.get_by_test_id("room-occupancy-canteen")
    expect(nursery).not_to_have_text("—")
    before = int(canteen.inner_text())
    p.evaluate("window.__sameDocument = true")
    d.fleet.count(f"{d.site}-cnt-1", 11)
    d.fleet.flow(f"{d.site}-cnt-2", 3, 1)
    expect(nursery).to_have_text("11")
    expect(canteen).to_have_text(str(before + 2))
    d.fleet.count(f"{d.site}-cnt-1", 2)
    expect(nursery).to_have_text("2")
    assert p.evaluate("window.__sameDocument") is True, "the page reloaded"
    assert console.errors == []


def test_language_switch_changes_the_labels(
    deployment: Deployment, page: tuple[Page, Console]
) -> None:
    p, console = page
    p.goto(f"{deployment.server.url}/ui/compliance?site={deployment.site}")
    expect(p.locator("h1")).to_have_text("合规评分")
    expect(p.locator("nav a").first).to_have_text("总览")
    expect(p.locator("[data-testid='scorecard'] th").first).to_have_text("规范")
    p.get_by_test_id("lang-switch").click()
    expect(p.locator("h1")).to_have_text("Compliance scorecard")
    expect(p.locator("nav a").first).to_have_text("Overview")
    expect(p.locator("[data-testid='scorecard'] th").first).to_have_text("Norm")
    expect(p.locator("html")).to_have_attribute("lang", "en")
    p.goto(f"{deployment.server.url}/ui/site?site={deployment.site}")
    expect(p.locator("h1")).to_have_text("Site, live")
    p.get_by_test_id("lang-switch").click()
    expect(p.locator("h1")).to_have_text("场所实时状态")
    assert console.errors == []


def _smoke_alert(d: Deployment) -> dict[str, Any] | None:
    alerts = d.server.get("/alerts", site=d.site, rule="smoke.alarm")
    return alerts[0] if alerts else None


def test_new_critical_alert_appears_live_sounds_and_can_be_acknowledged(
    deployment: Deployment, page: tuple[Page, Console]
) -> None:
    p, console = page
    d = deployment
    p.goto(f"{d.server.url}/ui/alerts")
    expect(p.get_by_test_id("no-alerts").or_(p.locator("tr[data-alert]")).first).to_be_visible()
    expect(p.locator("#live-state.on")).to_have_count(1)  # the alert stream is open
    p.locator("h1").click()  # a user gesture: browsers start audio only after one
    p.evaluate("window.__sameDocument = true")
    d.fleet.alarm(f"{d.site}-smk-1")
    wait_for(lambda: _smoke_alert(d) is not None, 20, "the smoke alert")
    alert = _smoke_alert(d)
    assert alert is not None
    assert (alert["severity"], alert["state"], alert["room"]) == ("critical", "firing", "nursery")
    row = p.locator(f"tr[data-alert='{alert['id']}']")
    expect(row).to_have_attribute("data-state", "firing")
    expect(row).to_have_class(re.compile(r"\bnew\b"))
    expect(row).to_contain_text(alert["message"]["zh"])
    expect(p.locator("body")).to_have_attribute("data-beeps", "1")
    row.locator("[data-action='acknowledge']").click()
    p.get_by_test_id("note").fill("值班员已到场 on site")
    p.get_by_test_id("confirm").click()
    expect(row).to_have_attribute("data-state", "acknowledged")
    detail = d.server.get(f"/alerts/{alert['id']}")
    assert detail["state"] == "acknowledged"
    assert [h["action"] for h in detail["history"]] == ["fired", "acknowledged"]
    assert detail["history"][-1]["note"] == "值班员已到场 on site"
    row.locator("[data-action='history']").click()
    history = p.locator(f"tr.history[data-history='{alert['id']}'] li")
    expect(history).to_have_count(2)
    expect(history.nth(1)).to_contain_text("值班员已到场 on site")
    expect(history.nth(1)).to_have_attribute("data-action", "acknowledged")
    p.screenshot(path=str(ARTIFACTS / "alerts-live-laptop.png"))
    assert p.evaluate("window.__sameDocument") is True, "the page reloaded"
    assert console.errors == []


def test_services_that_fail_show_not_available(
    deployment: Deployment, page: tuple[Page, Console]
) -> None:
    p, _console = page

    def unavailable(route: Route) -> None:
        route.fulfill(status=503, json={"detail": "not running"})

    p.route("**/alerts?*", unavailable)
    p.route("**/inspections/due*", unavailable)
    p.route("**/inspection-log/**", unavailable)
    p.goto(f"{deployment.server.url}/ui/alerts")
    expect(p.get_by_test_id("not-available")).to_be_visible()
    p.goto(f"{deployment.server.url}/ui/")
    expect(p.get_by_test_id("not-available")).to_be_visible()
    p.goto(f"{deployment.server.url}/ui/inspections?site={deployment.site}")
    expect(p.locator("[data-testid='due'] [data-testid='not-available']")).to_be_visible()
    expect(p.locator("[data-testid='log'] [data-testid='not-available']")).to_be_visible()


def test_record_a_patrol_and_download_the_exports(
    deployment: Deployment, page: tuple[Page, Console]
) -> None:
    p, console = page
    d = deployment
    p.goto(f"{d.server.url}/ui/inspections?site={d.site}")
    due = d.server.get(f"/sites/{d.site}/inspections/due")
    assert due, "a site whose detectors were never tested has items due"
    expect(p.locator("[data-testid='due'] tbody tr")).to_have_count(len(due))
    expect(p.locator("[data-testid='due'] td").first).to_have_text(due[0]["title_zh"])
    form = p.get_by_test_id("record")
    form.locator("select[name='category']").select_option("patrol")
    checklist = form.get_by_test_id("checklist")
    expect(checklist).to_contain_text("安全出口、疏散通道畅通")
    checklist.locator("select[data-item='exits_clear']").select_option("pass")
    checklist.locator("select[data-item='fire_doors_closed']").select_option("fail")
    form.locator("textarea[name='remarks']").fill("二楼防火门未关闭, door left open")
    form.locator("button[type='submit']").click()
    patrols = p.locator("[data-testid='log'] tbody tr[data-category='patrol']")
    expect(patrols).to_have_count(1)
    expect(patrols).to_contain_text("二楼防火门未关闭, door left open")
    expect(patrols).to_contain_text("常闭式防火门处于关闭状态")
    [entry] = d.server.get(f"/inspection-log/{d.site}/entries", category="patrol")["entries"]
    assert entry["payload"]["checklist"] == {"exits_clear": "pass", "fire_doors_closed": "fail"}
    p.get_by_test_id("verify").click()
    expect(p.get_by_test_id("verify-result")).to_have_attribute("data-ok", "true")
    p.screenshot(path=str(ARTIFACTS / "inspections-recorded-laptop.png"), full_page=True)
    for fmt in ("csv", "json", "pdf"):
        with p.expect_download() as info:
            p.locator(f"[data-testid='exports'] [data-format='{fmt}']").click()
        data = Path(info.value.path()).read_bytes()
        if fmt == "csv":
            assert data.startswith(b"\xef\xbb\xbf")
            rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
            [patrol] = [r for r in rows if r["类别代码"] == "patrol"]
            assert patrol["场所编号"] == d.site
            assert "二楼防火门未关闭" in patrol["原始数据"]
        elif fmt == "json":
            export = json.loads(data)
            assert [e["seq"] for e in export["entries"]] == sorted(
                e["seq"] for e in export["entries"]
            )
            assert any(e["category"] == "patrol" for e in export["entries"])
            verdict = httpx.post(f"{d.server.url}/inspection-log/verify-export", content=data)
            assert verdict.status_code == 200, verdict.text
            assert verdict.json()["ok"] is True
        else:
            assert data.startswith(b"%PDF")
    assert console.errors == []


def test_overview_lists_a_hundred_sites_and_finds_one(
    deployment: Deployment, page: tuple[Page, Console]
) -> None:
    p, console = page
    d = deployment
    for i in range(98):
        response = httpx.post(
            f"{d.server.url}/sites",
            json={
                "id": f"{d.site}-n{i:02d}",
                "name": f"第{i:02d}号社区服务站",
                "name_en": f"Station {i:02d}",
            },
            timeout=10,
        )
        assert response.status_code == 201, response.text
    p.goto(f"{d.server.url}/ui/")
    expect(p.locator("#site-table tbody tr")).to_have_count(100)
    p.screenshot(path=str(ARTIFACTS / "overview-100-sites-laptop.png"))
    p.get_by_placeholder("搜索场所…").fill("第42号")
    expect(p.locator("#site-table tbody tr")).to_have_count(1)
    expect(p.locator("#site-table tbody tr")).to_have_attribute("data-site", f"{d.site}-n42")
    assert console.errors == []


def test_utilization_scope_and_range(deployment: Deployment, page: tuple[Page, Console]) -> None:
    p, console = page
    d = deployment
    p.goto(f"{d.server.url}/ui/utilization?site={d.site}")
    expect(p.get_by_test_id("heatmap").locator("canvas").first).to_be_visible()
    end = p.get_by_test_id("end").input_value()
    assert p.get_by_test_id("start").input_value() < end
    with p.expect_request(lambda r: "/utilization?" in r.url) as request:
        p.get_by_role("button", name="近 30 天").click()
    assert "start=" in request.value.url
    start = date.fromisoformat(p.get_by_test_id("start").input_value())
    assert (date.fromisoformat(end) - start).days == 29
    p.get_by_test_id("block").select_option("room:nursery")
    expect(p.locator("section", has_text="所用容量").locator("tr")).to_have_count(1)
    expect(p.locator("section", has_text="所用容量")).to_contain_text("托育室")
    expect(p.get_by_test_id("heatmap").locator("canvas").first).to_be_visible()
    assert console.errors == []
