"""The web UI in a real browser: Debian's Chromium driven by Playwright against uvicorn on loopback.

Screenshots of the main pages go to $IOTNOTICE_SCREENSHOTS (`make screenshots` points it at
docs/screenshots/), else to the test's temporary directory.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import func, select

from iotnotice.db import connect, session_scope
from iotnotice.db.models import Case, Isp
from iotnotice.demo import run_demo
from iotnotice.notify.smtp import deliver_outbox
from iotnotice.notify.tokens import create_token
from iotnotice.settings import Settings, load_settings
from iotnotice.web import create_app
from iotnotice.web.accounts import create_operator

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OPERATOR = ("operator1", "browser-test-password")


class _Inbox(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[object] = []

    def handle_message(self, message: object) -> None:
        self.messages.append(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    """A served app over a demo run, with an SMTP inbox and what the tests need to know."""

    url: str
    settings: Settings
    inbox: _Inbox
    shots: Path
    notice_id: str
    isp_tokens: dict[str, str]
    isp_notices: dict[str, str]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("browser")
    inbox = _Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    settings = load_settings(
        environ={},
        data_dir=str(root / "data"),
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_starttls=False,
    )
    engine = connect(settings)
    run_demo(settings, engine, packets=60_000, seed=11)
    create_operator(engine, *OPERATOR, role="operator")
    with session_scope(engine) as s:
        notice = s.scalars(select(Case.notice_id).where(Case.isp_id.is_not(None)).limit(1)).one()
        by_isp: dict[str, str] = {}
        for isp_name, nid in s.execute(
            select(Isp.name, Case.notice_id).join(Case, Case.isp_id == Isp.id)
        ):
            by_isp.setdefault(isp_name, nid)
    two = sorted(by_isp)[:2]
    tokens = {name: create_token(engine, name)[1] for name in two}
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    shots = Path(os.environ.get("IOTNOTICE_SCREENSHOTS") or root / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    yield Site(
        f"http://127.0.0.1:{port}",
        settings,
        inbox,
        shots,
        notice,
        tokens,
        {n: by_isp[n] for n in two},
    )
    server.should_exit = True
    thread.join(timeout=10)
    smtp.stop()
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="ja-JP")
    p = context.new_page()
    yield p
    context.close()


def _login(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/operator/login?lang=en")
    page.fill("#username", OPERATOR[0])
    page.fill("#password", OPERATOR[1])
    page.click("form[action*='/operator/login'] button[type=submit]")


def test_home_is_japanese_and_switches_to_english(page: Page, site: Site) -> None:
    """The home page is Japanese by default; the language link switches every string to English."""
    page.goto(site.url + "/")
    assert page.get_attribute("html", "lang") == "ja"
    page.screenshot(path=str(site.shots / "home-ja.png"), full_page=True)
    page.click("a[hreflang=en]")
    assert page.get_attribute("html", "lang") == "en"
    assert "lang=en" in page.url
    body = page.inner_text("main")
    assert not any("\u3040" <= ch <= "\u30ff" for ch in body), "kana left on the English page"
    page.screenshot(path=str(site.shots / "home-en.png"), full_page=True)


def test_verify_genuine_and_mistyped_notice(page: Page, site: Site) -> None:
    """A real notice ID is genuine (no IP shown); one changed symbol is caught as a typo."""
    page.goto(f"{site.url}/verify?lang=en")
    page.fill("#notice_id", site.notice_id.lower().replace("-", " "))
    page.click("form[action*='/verify'] button[type=submit]")
    result = page.locator("#result")
    expect(result).to_have_class("genuine")
    assert "mirai" in page.inner_text("main").lower()
    page.screenshot(path=str(site.shots / "verify-genuine.png"), full_page=True)
    with session_scope(connect(site.settings)) as s:
        ip = s.scalar(select(Case.ip).where(Case.notice_id == site.notice_id))
    assert ip and ip not in page.content()
    typo = ("1" if site.notice_id[0] != "1" else "2") + site.notice_id[1:]
    page.fill("#notice_id", typo)
    page.click("form[action*='/verify'] button[type=submit]")
    expect(page.locator("#result")).to_have_class("error")
    assert page.get_attribute("#notice_id", "aria-invalid") == "true"


def test_inquiry_answered_by_an_operator(page: Page, site: Site) -> None:
    """A subscriber files an inquiry; an operator answers it; the reply reaches the SMTP inbox."""
    page.goto(f"{site.url}/inquiry?lang=en")
    page.fill("#name", "Hanako")
    page.fill("#email", "hanako@example.jp")
    page.fill("#notice_id", site.notice_id)
    page.fill("#message", "My ISP says my camera is infected. What should I do?")
    page.click("form[action*='/inquiry'] button[type=submit]")
    reference = page.inner_text("#reference").strip()
    assert reference
    _login(page, site)
    page.goto(f"{site.url}/operator/inquiries/{reference}?lang=en")
    assert "camera is infected" in page.inner_text("main")
    page.fill("#body", "Please reset the camera and change its password.")
    page.click("form[action*='/reply'] button[type=submit]")
    page.goto(f"{site.url}/operator/inquiries/{reference}?lang=en")
    assert "Please reset the camera" in page.inner_text("main")
    page.screenshot(path=str(site.shots / "operator-inquiry.png"), full_page=True)
    deliver_outbox(site.settings, connect(site.settings))
    sent = [m for m in site.inbox.messages if "hanako@example.jp" in str(m["To"])]  # type: ignore[index]
    assert any("Please reset the camera" in str(m) for m in sent)


def test_dashboard_charts_render(page: Page, site: Site) -> None:
    """After sign-in the dashboard shows its charts as drawn SVG with a visible size."""
    _login(page, site)
    page.goto(f"{site.url}/operator/dashboard?lang=en")
    charts = page.locator(".chart-box svg")
    assert charts.count() >= 3
    box = charts.first.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50
    page.screenshot(path=str(site.shots / "operator-dashboard.png"), full_page=True)
    page.goto(f"{site.url}/operator/cases?lang=en")
    with session_scope(connect(site.settings)) as s:
        total = s.scalar(select(func.count()).select_from(Case))
    assert page.inner_text("#case-count").strip() == str(total)
    page.screenshot(path=str(site.shots / "operator-cases.png"))
    page.goto(f"{site.url}/operator/cases/{site.notice_id}?lang=en")
    assert site.notice_id in page.inner_text("main")


def test_one_isp_cannot_reach_another(browser: Browser, site: Site) -> None:
    """Signed in with its token, an ISP sees its own case; the other ISP's case answers 404."""
    (mine, other) = sorted(site.isp_tokens)
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{site.url}/isp/login?lang=en")
    page.fill("#token", site.isp_tokens[mine])
    page.click("form[action*='/isp/login'] button[type=submit]")
    assert site.isp_notices[mine] in page.content()
    assert site.isp_notices[other] not in page.content()
    page.screenshot(path=str(site.shots / "isp-portal.png"), full_page=True)
    response = page.goto(f"{site.url}/isp/cases/{site.isp_notices[other]}?lang=en")
    assert response is not None and response.status == 404
    context.close()
