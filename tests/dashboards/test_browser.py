"""The pages in a real browser (Debian's Chromium, headless) against the real server, signed in
as the admin unless a test says otherwise (through the sign-in page in the tests of signing
in, by the session cookie elsewhere)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Route,
    expect,
    sync_playwright,
)

from dashboards import PAGES
from tests.access import ADMIN, ADMIN_PASSWORD
from tests.dashboards.conftest import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    Deployment,
    LiveServer,
    wait_for,
)

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

    def unexpected(self) -> list[str]:
        """The errors besides the browser's own line for each 401 answer (expected where a
        page asks who is signed in before anyone is, or a password is wrong)."""
        return [e for e in self.errors if "status of 401" not in e]


def signed_in(context: BrowserContext, server: LiveServer, token: str) -> None:
    """Give the browser ``token``'s session, as signing in through the page would."""
    context.add_cookies([{"name": "linli_session", "value": token, "url": server.url}])


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    name: str
    role: str


@pytest.fixture(scope="module")
def accounts(deployment: Deployment) -> dict[str, Account]:
    """One user per role other than admin, each bound to the first site only."""
    found: dict[str, Account] = {}
    for role, name in (("operator", "王值班"), ("manager", "李主任"), ("inspector", "赵检查")):
        username = f"{role}-{deployment.site}"
        password = deployment.server.create_user(username, role, [deployment.site], name)
        found[role] = Account(username, password, name, role)
    return found


OpenPage = Callable[..., tuple[Page, Console]]


@pytest.fixture
def open_page(browser: Browser) -> Iterator[OpenPage]:
    """Opens a page in a new browser context, signed in with ``token`` when one is given."""
    contexts: list[BrowserContext] = []

    def open_(
        server: LiveServer | None = None,
        token: str | None = None,
        width: int = 1366,
        height: int = 768,
    ) -> tuple[Page, Console]:
        context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        contexts.append(context)
        if server is not None and token is not None:
            signed_in(context, server, token)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        console = Console()
        page.on("console", console.on_console)
        page.on("pageerror", console.on_error)
        return page, console

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def page(deployment: Deployment, open_page: OpenPage) -> tuple[Page, Console]:
    """A page signed in as the admin."""
    return open_page(deployment.server, deployment.server.token)


def _ready_selector(name: str, d: Deployment) -> str:
    return {
        "overview": f"tr[data-site='{d.site}'] [data-testid='site-occupancy']",
        "site": "[data-testid='room-occupancy-nursery']",
        "alerts": "#alert-table",
        "utilization": "[data-testid='heatmap'] canvas",
        "compliance": "[data-testid='scorecard'] tr[data-norm]",
        "inspections": "[data-testid='due'] table",
        "signin": "[data-testid='signin-form']",
    }[name]


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_renders_without_console_errors(
    deployment: Deployment, open_page: OpenPage, size: str
) -> None:
    width, height = SIZES[size]
    p, console = open_page(deployment.server, deployment.server.token, width, height)
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


def _fire_alert(d: Deployment, room: str) -> dict[str, Any] | None:
    alerts = d.server.get("/alerts", site=d.site, rule="smoke.alarm")
    found = [a for a in alerts if a["room"] == room]
    return found[0] if found else None


def _smoke_alert(d: Deployment) -> dict[str, Any] | None:
    return _fire_alert(d, "nursery")


def test_new_critical_alert_appears_live_sounds_and_can_be_acknowledged(
    deployment: Deployment, open_page: OpenPage, accounts: dict[str, Account]
) -> None:
    d = deployment
    operator = accounts["operator"]
    p, console = open_page(d.server, d.server.sign_in(operator.username, operator.password))
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
    with p.expect_response(lambda r: r.url.endswith("/acknowledge")) as acknowledged:
        p.get_by_test_id("confirm").click()
    # Signed in by the cookie alone: the server takes the change only with the CSRF header.
    sent = acknowledged.value.request
    assert "authorization" not in sent.headers
    assert sent.headers.get("x-csrf-token")
    assert acknowledged.value.status == 200
    assert "actor" not in json.loads(sent.post_data or "{}")
    expect(row).to_have_attribute("data-state", "acknowledged")
    detail = d.server.get(f"/alerts/{alert['id']}")
    assert detail["state"] == "acknowledged"
    assert [h["action"] for h in detail["history"]] == ["fired", "acknowledged"]
    assert detail["history"][-1]["note"] == "值班员已到场 on site"
    assert detail["history"][-1]["actor"] == operator.username
    row.locator("[data-action='history']").click()
    history = p.locator(f"tr.history[data-history='{alert['id']}'] li")
    expect(history).to_have_count(2)
    expect(history.nth(1)).to_contain_text("值班员已到场 on site")
    expect(history.nth(1)).to_contain_text(operator.username)
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
            verdict = httpx.post(
                f"{d.server.url}/inspection-log/verify-export",
                content=data,
                headers=d.server.headers,
            )
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
            headers=d.server.headers,
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


def _sign_in_with_form(p: Page, username: str, password: str) -> None:
    p.get_by_test_id("signin-user").fill(username)
    p.get_by_test_id("signin-password").fill(password)
    p.get_by_test_id("signin-submit").click()


def test_signing_in_through_the_form_lands_on_the_overview_and_shows_the_user(
    deployment: Deployment, open_page: OpenPage, accounts: dict[str, Account]
) -> None:
    d = deployment
    inspector = accounts["inspector"]
    p, console = open_page()
    p.goto(f"{d.server.url}/ui/signin")
    expect(p.get_by_test_id("signin-form")).to_be_visible()
    _sign_in_with_form(p, inspector.username, inspector.password)
    expect(p).to_have_url(f"{d.server.url}/ui/")
    expect(p.get_by_test_id("user")).to_contain_text(inspector.name)
    expect(p.get_by_test_id("user-role")).to_have_text("检查员")
    expect(p.locator(f"tr[data-site='{d.site}']")).to_have_count(1)
    [cookie] = [c for c in p.context.cookies() if c["name"] == "linli_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert "linli_session" not in p.evaluate("document.cookie"), "scripts must not read it"
    p.get_by_test_id("signout").click()
    expect(p).to_have_url(f"{d.server.url}/ui/signin")
    p.goto(f"{d.server.url}/ui/")
    expect(p).to_have_url(f"{d.server.url}/ui/signin?next=%2Fui%2F")
    assert console.unexpected() == []


def test_a_wrong_password_shows_the_error_in_chinese_and_english(
    deployment: Deployment, open_page: OpenPage, accounts: dict[str, Account]
) -> None:
    d = deployment
    manager = accounts["manager"]
    p, console = open_page()
    p.goto(f"{d.server.url}/ui/signin")
    _sign_in_with_form(p, manager.username, "not-the-password")
    error = p.get_by_test_id("signin-error")
    expect(error).to_have_text("用户名或密码错误。")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(ARTIFACTS / "signin-wrong-password-laptop.png"))
    expect(p).to_have_url(f"{d.server.url}/ui/signin")
    expect(p.get_by_test_id("user")).to_have_count(0)
    p.get_by_test_id("lang-switch").click()
    expect(p.locator("h1")).to_have_text("Sign in")
    _sign_in_with_form(p, manager.username, "still-not-the-password")
    expect(error).to_have_text("Wrong user name or password.")
    expect(p.get_by_test_id("signin-submit")).to_be_enabled()
    assert console.unexpected() == []


def test_a_throttled_sign_in_shows_the_wait(deployment: Deployment, open_page: OpenPage) -> None:
    d = deployment
    # Failures of one user name only: failures from this address would throttle every test's
    # sign-in after this one.
    limiter = d.server.app.state.signin_limiter
    window = d.server.app.state.settings.signin_window_s
    for _ in range(d.server.app.state.settings.signin_max_failures):
        limiter.failed("user:someone-guessed")
    p, console = open_page()
    p.goto(f"{d.server.url}/ui/signin?lang=en")
    with p.expect_response(lambda r: r.url.endswith("/auth/login")) as answer:
        _sign_in_with_form(p, "someone-guessed", "a-guess-at-the-password")
    assert answer.value.status == 429
    error = p.get_by_test_id("signin-error")
    expect(error).to_have_text(re.compile(r"^Too many failed sign-ins: try again in \d+ s\.$"))
    wait = int(re.findall(r"\d+", error.inner_text())[0])
    assert window - 60 <= wait <= window
    expect(p.get_by_test_id("signin-submit")).to_be_disabled()
    p.goto(f"{d.server.url}/ui/signin?lang=zh-CN")
    _sign_in_with_form(p, "someone-guessed", "a-guess-at-the-password")
    expect(error).to_have_text(re.compile(r"^登录失败次数过多，请 \d+ 秒后再试。$"))
    assert [e for e in console.unexpected() if "status of 429" not in e] == []


def test_a_page_opened_without_a_session_goes_to_sign_in_and_comes_back(
    deployment: Deployment, open_page: OpenPage, accounts: dict[str, Account]
) -> None:
    d = deployment
    operator = accounts["operator"]
    p, console = open_page()
    target = f"/ui/inspections?site={d.site}"
    p.goto(f"{d.server.url}{target}")
    expect(p).to_have_url(f"{d.server.url}/ui/signin?next={quote(target, safe='')}")
    _sign_in_with_form(p, operator.username, operator.password)
    expect(p).to_have_url(f"{d.server.url}{target}")
    expect(p.locator("[data-testid='due'] table")).to_be_visible()
    expect(p.get_by_test_id("user")).to_contain_text(operator.name)
    assert console.unexpected() == []


def test_a_session_that_ends_while_a_page_is_open_leads_to_sign_in(
    deployment: Deployment, open_page: OpenPage
) -> None:
    d = deployment
    token = d.server.sign_in(ADMIN, ADMIN_PASSWORD)
    p, console = open_page(d.server, token)
    target = f"/ui/inspections?site={d.site}"
    p.goto(f"{d.server.url}{target}")
    expect(p.locator("[data-testid='due'] table")).to_be_visible()
    ended = httpx.post(
        f"{d.server.url}/auth/logout", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert ended.status_code == 204
    p.locator("[data-testid='log'] button.primary").click()  # reloads the log
    expect(p).to_have_url(f"{d.server.url}/ui/signin?next={quote(target, safe='')}")
    assert console.unexpected() == []


@pytest.mark.parametrize(
    "next_",
    [
        "https://example.invalid/ui/",
        "//example.invalid/ui/",
        "/\\example.invalid/",
        "/\t/example.invalid/",
        "javascript:alert(1)",
        "/ui/signin?next=/ui/alerts",
    ],
)
def test_sign_in_goes_nowhere_but_this_site(
    deployment: Deployment, open_page: OpenPage, next_: str
) -> None:
    d = deployment
    p, _console = open_page()
    p.goto(f"{d.server.url}/ui/signin?next={quote(next_, safe='')}")
    _sign_in_with_form(p, ADMIN, ADMIN_PASSWORD)
    expect(p).to_have_url(f"{d.server.url}/ui/")


def _actions(p: Page, alert_id: int) -> list[str | None]:
    row = p.locator(f"tr[data-alert='{alert_id}']")
    expect(row.locator("[data-action='history']")).to_be_visible()
    buttons = row.locator("button[data-action]")
    return [buttons.nth(i).get_attribute("data-action") for i in range(buttons.count())]


def test_each_role_sees_only_the_controls_it_may_use(
    deployment: Deployment, open_page: OpenPage, accounts: dict[str, Account]
) -> None:
    d = deployment
    d.fleet.alarm(f"{d.site}-heat-1")
    wait_for(lambda: _fire_alert(d, "gym") is not None, 20, "the heat detector's alert")
    alert = _fire_alert(d, "gym")
    assert alert is not None
    assert alert["state"] == "firing"
    every = ["acknowledge", "assign", "resolve", "silence", "history"]
    expected = {"operator": every, "manager": ["history"], "inspector": ["history"]}
    for role, actions in expected.items():
        account = accounts[role]
        p, console = open_page(d.server, d.server.sign_in(account.username, account.password))
        p.goto(f"{d.server.url}/ui/alerts")
        assert _actions(p, alert["id"]) == actions, role
        p.goto(f"{d.server.url}/ui/inspections?site={d.site}")
        record = p.get_by_test_id("record")
        exports = p.locator("[data-testid='exports'] a[data-format]")
        if role == "manager":
            expect(record.get_by_test_id("record-not-allowed")).to_be_visible()
            expect(exports).to_have_count(3)
        elif role == "inspector":
            expect(record.locator("select[name='category'] option")).to_have_count(4)
            expect(exports).to_have_count(3)
        else:
            expect(record.locator("select[name='category'] option")).to_have_count(1)
            expect(record.locator("select[name='category']")).to_have_value("patrol")
            expect(exports).to_have_count(0)
            expect(record.locator("input[name='inspector']")).to_have_value(account.name)
            expect(record.locator("input[name='inspector']")).to_have_attribute("readonly", "")
        assert console.unexpected() == [], role
    p, console = open_page(d.server, d.server.token)
    p.goto(f"{d.server.url}/ui/alerts")
    assert _actions(p, alert["id"]) == every


def test_an_operator_sees_only_its_site_and_can_silence(
    deployment: Deployment, open_page: OpenPage, accounts: dict[str, Account]
) -> None:
    d = deployment
    operator = accounts["operator"]
    p, console = open_page(d.server, d.server.sign_in(operator.username, operator.password))
    p.goto(f"{d.server.url}/ui/")
    expect(p.locator(f"tr[data-site='{d.site}']")).to_have_count(1)
    expect(p.locator("#site-table tbody tr")).to_have_count(1)
    expect(p.get_by_test_id("user-role")).to_have_text("值班员")
    expect(p.locator("nav a")).to_have_text(["总览", "场所", "告警", "巡检"])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(ARTIFACTS / "overview-operator-laptop.png"))
    # Another site's page falls back to the operator's own; its data is not found.
    p.goto(f"{d.server.url}/ui/site?site={d.site2}")
    expect(p.get_by_test_id("site-picker").locator("option")).to_have_count(1)
    expect(p.get_by_test_id("site-picker")).to_have_value(d.site)
    status = p.evaluate(f"fetch('/ui/api/sites/{d.site2}/live').then((r) => r.status)")
    assert status == 404
    # An analytics page the role may not see says so instead of failing.
    p.goto(f"{d.server.url}/ui/compliance?site={d.site}")
    expect(p.get_by_test_id("forbidden")).to_be_visible()
    d.fleet.alarm(f"{d.site}-heat-1")
    wait_for(lambda: _fire_alert(d, "gym") is not None, 20, "the heat detector's alert")
    alert = _fire_alert(d, "gym")
    assert alert is not None
    p.goto(f"{d.server.url}/ui/alerts")
    p.locator(f"tr[data-alert='{alert['id']}'] [data-action='silence']").click()
    p.get_by_test_id("duration").select_option("3600")
    p.get_by_test_id("note").fill("探测器更换中 detector being replaced")
    # Signed in again meanwhile (another tab): the page's CSRF token is the old session's. The
    # server refuses it once; the page fetches the new one and sends the change again.
    signed_in(p.context, d.server, d.server.sign_in(operator.username, operator.password))
    answers: list[int] = []
    p.on("response", lambda r: answers.append(r.status) if r.url.endswith("/silence") else None)
    with p.expect_response(lambda r: r.url.endswith("/silence") and r.ok):
        p.get_by_test_id("confirm").click()
    last = d.server.get(f"/alerts/{alert['id']}")["history"][-1]
    assert last["actor"] == operator.username
    assert "探测器更换中" in last["note"]
    assert answers == [403, 200]
    refused = ("status of 403", f"/ui/api/sites/{d.site2}/live")
    assert [e for e in console.unexpected() if not any(r in e for r in refused)] == []
