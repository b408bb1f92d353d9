"""The portal in a real browser: Debian's chromium driven by Playwright (no browser download).
Sign-in with password and TOTP code typed into the forms, each kind of company's dashboard,
an upload and a dispute opened and answered through the pages, the company's own notification
rules, the language and country switches, no console error (the CSP refuses inline code, so a page
that needed any would show one).  Screenshots of each dashboard are kept in
``test-artifacts/portal/``."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from opencass.config import load_config
from opencass.config.demo import demo_password
from tests.kit.daemon import Phase, running
from tests.kit.gateway import (
    NOW,
    PERIOD_CODE,
    TODAY,
    free_port,
    init_demo_store,
    sample_bytes,
)
from tests.kit.portal import totp_code
from tests.kit.tools import needs_tool

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "portal"
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

pytestmark = needs_tool(CHROMIUM, "the portal's browser tests")


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


async def _sign_in(browser: object, gw: Phase, user: str, secret: str) -> object:
    assert gw.gateway.portal is not None
    context = await browser.new_context(locale="en-GB")  # type: ignore[attr-defined]
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    await page.goto(gw.gateway.portal.url)
    assert page.url.endswith("/signin")
    await page.fill("#user", user)
    await page.fill("#password", demo_password(user))
    await page.click("button[type=submit]")
    await page.wait_for_url("**/signin/code")
    await page.fill("#code", totp_code(secret, gw.gateway.clock()))
    await page.click("button[type=submit]")
    await page.wait_for_selector("main h1")
    return page


async def test_each_dashboard_in_a_real_browser(tmp_path: Path, browser: object) -> None:
    config_dir = tmp_path / "config"
    init_demo_store(config_dir, today=TODAY, portal_port=0, imports=True)
    secrets = {u.name: u.totp_secret or "" for u in load_config(config_dir).users.values()}
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    billing = tmp_path / "november.hot"
    billing.write_bytes(sample_bytes())
    async with running(config_dir, NOW) as gw:
        # the airline uploads through the page; its dashboard shows the outcome by itself
        page = await _sign_in(browser, gw, "demoair", secrets["demoair"])
        await page.click("nav.pages a[href='/upload']")
        await page.set_input_files("#file", str(billing))
        await page.click("form[action='/upload'] button")
        await page.wait_for_selector("p.sent")
        await page.wait_for_selector(
            "tr[data-file='november.hot'] td[data-outcome='accepted']", timeout=30_000
        )
        assert "angenommen" in await page.inner_text("tr[data-file='november.hot']")
        # a file that arrives over SFTP meanwhile appears without anyone reloading the page
        await gw.upload("demoair", "again.hot", sample_bytes())
        await page.wait_for_selector(
            "tr[data-file='again.hot'] td[data-outcome='duplicate']", timeout=30_000
        )
        await page.screenshot(path=str(ARTIFACTS / "airline.png"), full_page=True)
        await page.click("nav.pages a[href='/statistics']")
        await page.wait_for_selector("canvas.chart[data-drawn='2']")  # agent1 and agent2
        assert await page.locator("canvas.chart[data-drawn]").count() == 2
        await page.screenshot(path=str(ARTIFACTS / "airline-statistics.png"), full_page=True)
        await page.click("nav.pages a[href='/users']")
        await page.wait_for_selector("tr[data-user='demoair']")
        await page.screenshot(path=str(ARTIFACTS / "administrator.png"), full_page=True)
        await page.click("nav.pages a[href='/settings']")
        await page.click("form:has(input[value='make-key']) button")
        await page.wait_for_selector("pre#public-key")
        await page.check("#add-rule input[value='document.available']")
        await page.fill("#add-rule input[name='description']", "Statements, for the accounts")
        await page.click("#add-rule button")
        await page.wait_for_selector("tr[data-source='own']")
        await page.screenshot(path=str(ARTIFACTS / "settings.png"), full_page=True)
        assert page.errors == []

        page = await _sign_in(browser, gw, "agent1", secrets["agent1"])
        assert await page.inner_text("main h1") == "Agent One Spedition GmbH · DE"
        assert "Fällige Beträge" in await page.inner_text("main")  # agent1 reads German
        await page.select_option("#lang", "en")
        await page.click("form[action='/language'] button")
        await page.wait_for_selector("text=Amounts due")
        await page.screenshot(path=str(ARTIFACTS / "agent.png"), full_page=True)
        await page.click("nav.pages a[href='/awb']")
        await page.fill("#q", "997-62144154")
        await page.click("form[action='/awb'] button")
        await page.wait_for_selector("table.awb")
        await page.screenshot(path=str(ARTIFACTS / "agent-awb.png"), full_page=True)
        # one click to the other CASS operation the company takes part in
        await page.click("button.chip:has-text('DE-I')")
        await page.wait_for_selector("main h1:has-text('DE-I')")
        assert await page.inner_text("button.chip.current") == "Agent One Spedition GmbH · DE-I"
        await page.click("form[action='/signout'] button")
        await page.wait_for_url("**/signin")
        assert page.errors == []

        page = await _sign_in(browser, gw, "ops", secrets["ops"])
        assert "CASS Operations Demo · DE" in await page.inner_text("main h1")
        await page.screenshot(path=str(ARTIFACTS / "operator.png"), full_page=True)
        assert page.errors == []

    period = next(p for p in load_config(config_dir).calendars["DE"] if p.code == PERIOD_CODE)
    async with running(config_dir, period.reports_available + timedelta(hours=1)) as gw:
        # a dispute opened from the AWB's line, answered from the airline's dashboard
        page = await _sign_in(browser, gw, "agent1", secrets["agent1"])
        await page.click("nav.pages a[href='/awb']")
        await page.fill("#q", "997-62144154")
        await page.click("form[action='/awb'] button")
        await page.fill("form.dispute input[name='claimed']", "3937.26")
        await page.fill("form.dispute input[name='reason']", "weight charge at the wrong rate")
        await page.click("form.dispute button")
        await page.wait_for_selector("p.sent")
        assert page.errors == []
        page = await _sign_in(browser, gw, "demoair", secrets["demoair"])
        row = "tr[data-dispute='997-62144154']"
        await page.wait_for_selector(f"{row} form.answer", timeout=30_000)  # as it arrives
        await page.screenshot(path=str(ARTIFACTS / "airline-dispute.png"), full_page=True)
        await page.click(f"{row} button[value='accept']")
        await page.wait_for_selector("p.sent")
        await page.wait_for_selector(row, state="detached", timeout=30_000)  # answered
        assert page.errors == []
    shots = [
        "administrator.png",
        "agent-awb.png",
        "agent.png",
        "airline-dispute.png",
        "airline-statistics.png",
        "airline.png",
        "operator.png",
        "settings.png",
    ]
    assert sorted(p.name for p in ARTIFACTS.iterdir()) == shots


@pytest.fixture
def provider_dir() -> Path:
    """The test provider's node_modules (``make test`` installs them from the lock file)."""
    here = Path(__file__).resolve().parent / "oidc"
    if not (here / "node_modules" / "oidc-provider").is_dir():
        if os.environ.get("OPENCASS_REQUIRE_TOOLS") == "1":
            pytest.fail("oidc-provider is not installed (make test runs npm ci)", pytrace=False)
        pytest.skip("oidc-provider is not installed (npm ci --prefix tests/portal/oidc)")
    return here


async def test_sign_in_at_an_openid_connect_provider(
    tmp_path: Path, browser: object, provider_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The central login: panva's oidc-provider on 127.0.0.1 (its development sign-in pages),
    the portal its confidential client with PKCE; the provider's preferred_username is the
    opencass user.  A name opencass does not know signs nobody in."""
    config_dir = tmp_path / "config"
    init_demo_store(config_dir, today=TODAY, portal_port=0)
    port = free_port()
    toml = config_dir / "gateway.toml"
    text = toml.read_text()
    toml.write_text(
        text.replace(
            '[portal.oidc]\nissuer = ""\nclient_id = ""\nclient_secret_env = ""',
            f'[portal.oidc]\nissuer = "http://127.0.0.1:{port}"\nclient_id = "opencass"'
            '\nclient_secret_env = "OPENCASS_TEST_OIDC_SECRET"',
        )
    )
    monkeypatch.setenv("OPENCASS_TEST_OIDC_SECRET", "a-client-secret-of-the-test")
    async with running(config_dir, NOW) as gw:
        assert gw.gateway.portal is not None
        redirect = gw.gateway.portal.url + "signin/oidc/callback"
        node = await asyncio.create_subprocess_exec(
            "node", str(provider_dir / "provider.mjs"), str(port), redirect,
            "a-client-secret-of-the-test", stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert node.stdout is not None
            line = await asyncio.wait_for(node.stdout.readline(), 30)
            assert line.startswith(b"listening"), line
            for login, signed_in in (("agent1", True), ("nobody", False)):
                context = await browser.new_context()  # type: ignore[attr-defined]
                page = await context.new_page()
                await page.goto(gw.gateway.portal.url + "signin")
                await page.click("#oidc")
                await page.fill("input[name=login]", login)
                await page.fill("input[name=password]", "anything")
                await page.click("button[type=submit]")
                await page.click("button[type=submit]")  # the provider's consent
                await page.wait_for_url(gw.gateway.portal.url + ("" if signed_in else "signin*"))
                if signed_in:
                    assert await page.inner_text("main h1") == "Agent One Spedition GmbH · DE"
                    await page.screenshot(path=str(tmp_path / "oidc.png"))
                else:
                    assert "did not succeed" in await page.inner_text("main")
                await context.close()
        finally:
            node.terminate()
            await node.wait()
        store = gw.gateway.store
        assert store is not None
        ok = await store.audit_events("portal_signin")
        assert [(e["user"], e["data"]["via"]) for e in ok] == [("agent1", "oidc")]
        failed = await store.audit_events("portal_signin_failed")
        assert [e["data"]["why"] for e in failed] == ["no such user"]
