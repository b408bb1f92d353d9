"""The participant portal served by a running gateway (127.0.0.1, a free port): sign-in with
password and TOTP code, the session cookie, CSRF, the shared ban list, what each company sees,
and the dashboards' figures against the final close's totals worked out by hand."""

from __future__ import annotations

import asyncio
import re
import subprocess
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncssh
import pytest
from lxml import etree, html

from opencass.config import load_config
from tests.kit.daemon import Phase, running
from tests.kit.db import db_connect
from tests.kit.gateway import NOW, PERIOD_CODE, TODAY, init_demo_store, sample_bytes
from tests.kit.portal import PortalClient, totp_code

HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options")


def _secrets(config_dir: Path) -> dict[str, str]:
    return {u.name: u.totp_secret or "" for u in load_config(config_dir).users.values()}


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    init_demo_store(directory, today=TODAY, portal_port=0)
    return directory


def _client(gw: Phase) -> PortalClient:
    assert gw.gateway.portal is not None
    return PortalClient(gw.gateway.portal.url, gw.gateway.clock)


async def test_password_then_code_signs_in_to_the_companys_dashboard(config_dir: Path) -> None:
    secrets = _secrets(config_dir)
    async with running(config_dir, NOW) as gw:
        await gw.upload("demoair", "november.hot", sample_bytes())
        await gw.answer("demoair", "november.hot")
        web = _client(gw)
        try:
            status, page = await web.get("/")
            assert status == 200 and 'action="/signin"' in page  # sent to the sign-in page
            page = await web.sign_in("demoair", secrets["demoair"])
            assert "Demo Air AG · DE" in page
            assert "Dateien dieser Periode" in page  # Demo Air's language: German
            row = html.fromstring(page).xpath('//tr[@data-file="november.hot"]')
            assert row and "angenommen" in row[0].text_content()
            assert row[0].xpath("td[@data-outcome]")[0].get("data-outcome") == "accepted"
            async with web.session.get(web.base + "/") as r:
                assert all(h in r.headers for h in HEADERS)
                assert "script-src 'self'" in r.headers["Content-Security-Policy"]
                assert r.headers["Cache-Control"] == "no-store"
                cookie = r.headers["Set-Cookie"]  # the idle timer restarts with each page
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            status, page = await web.post("/language", {"lang": "fr"})
            assert status == 200 and "Fichiers de la période" in page
            status, page = await web.post("/signout", {})
            assert 'action="/signin"' in page
            status, page = await web.get("/")
            assert 'action="/signin"' in page  # signed out: no way back without signing in
        finally:
            await web.close()
        store = gw.gateway.store
        assert store is not None
        assert [e["user"] for e in await store.audit_events("portal_signin")] == ["demoair"]


async def test_wrong_password_wrong_code_and_a_used_code_are_refused(config_dir: Path) -> None:
    secrets = _secrets(config_dir)
    async with running(config_dir, NOW) as gw:
        web = _client(gw)
        try:
            status, page = await web.password("agent1", "not-the-password")
            assert status == 401 and "Wrong user name or password" in page
            status, page = await web.password("nobody")
            assert status == 401
            status, _ = await web.password("agent1")
            assert status == 200
            status, page = await web.post("/signin/code", {"code": "000000"})
            assert status == 401
            code = totp_code(secrets["agent1"], gw.gateway.clock())
            status, page = await web.post("/signin/code", {"code": code})
            assert status == 200 and "Agent One" in page
            again = _client(gw)
            try:
                await again.password("agent1")
                status, _ = await again.post("/signin/code", {"code": code})
                assert status == 401  # a code is good once
            finally:
                await again.close()
        finally:
            await web.close()
        store = gw.gateway.store
        assert store is not None
        failed = await store.audit_events("portal_signin_failed")
        assert len(failed) == 4


async def test_a_session_made_before_sign_in_is_never_the_one_signed_in(
    config_dir: Path,
) -> None:
    secrets = _secrets(config_dir)
    async with running(config_dir, NOW) as gw:
        web = _client(gw)
        try:
            await web.password("agent1")
            halfway = web.cookie("oc_session")
            await web.post(
                "/signin/code", {"code": totp_code(secrets["agent1"], gw.gateway.clock())}
            )
            signed_in = web.cookie("oc_session")
            assert halfway and signed_in and halfway != signed_in
            # the half-way session reaches no page
            planted = _client(gw)
            try:
                planted.session.cookie_jar.update_cookies({"oc_session": halfway})
                _, page = await planted.get("/")
                assert 'action="/signin"' in page
                forged = signed_in[:-3] + ("AAA" if not signed_in.endswith("AAA") else "BBB")
                planted.session.cookie_jar.update_cookies({"oc_session": forged})
                _, page = await planted.get("/")
                assert 'action="/signin"' in page
            finally:
                await planted.close()
        finally:
            await web.close()


async def test_forms_without_their_token_or_from_elsewhere_are_refused(config_dir: Path) -> None:
    secrets = _secrets(config_dir)
    async with running(config_dir, NOW) as gw:
        web = _client(gw)
        try:
            await web.sign_in("agent1", secrets["agent1"])
            status, _ = await web.post("/language", {"lang": "fr", "csrf": ""})
            assert status == 403
            status, _ = await web.post(
                "/language", {"lang": "fr"}, headers={"Origin": "https://evil.example"}
            )
            assert status == 403
            status, _ = await web.post("/signin", {"user": "agent1", "password": "x"}, token=False)
            assert status == 403  # the sign-in form has its own token
            status, page = await web.post("/language", {"lang": "es"})
            assert status == 200 and "Importes adeudados" in page
        finally:
            await web.close()


async def test_a_company_sees_only_its_own(config_dir: Path) -> None:
    secrets = _secrets(config_dir)
    async with running(config_dir, NOW) as gw:
        outbox = gw.mailboxes / "agent2" / "outbox"
        outbox.mkdir(parents=True, exist_ok=True)
        (outbox / "secret_statement.csv").write_text("agent2's figures\n")
        own = gw.mailboxes / "agent1" / "outbox"
        own.mkdir(parents=True, exist_ok=True)
        (own / "mine.csv").write_text("agent1's figures\n")
        anonymous = _client(gw)
        web = _client(gw)
        try:
            for path in ("/", "/documents/mine.csv", "/documents/secret_statement.csv"):
                status, page = await anonymous.get(path)
                assert 'action="/signin"' in page and "figures" not in page
            for path in ("/switch", "/language", "/signout"):
                status, _ = await anonymous.post(path, {})
                assert status == 403
            await web.sign_in("agent1", secrets["agent1"])
            status, text = await web.get("/documents/mine.csv")
            assert status == 200 and text == "agent1's figures\n"
            for name in ("secret_statement.csv", ".hidden", "mine.csv%00", "a%22b"):
                status, text = await web.get(f"/documents/{name}")
                assert status == 404 and "agent2" not in text, name
            for name in ("..%2F..%2Fagent2%2Foutbox%2Fsecret_statement.csv", "%2E%2E/x",
                         "../../agent2/outbox/secret_statement.csv"):  # fmt: skip
                status, text = await web.get(f"/documents/{name}")
                assert "agent2's figures" not in text, name
            status, _ = await web.post("/switch", {"company": "agent2", "country": "DE"})
            assert status == 403
            status, page = await web.get("/")
            assert "Agent One" in page and "Agent Two" not in page
        finally:
            await anonymous.close()
            await web.close()
        store = gw.gateway.store
        assert store is not None
        downloads = await store.audit_events("first_download")
        assert [(e["user"], e["data"]["path"]) for e in downloads] == [
            ("agent1", "/outbox/mine.csv")
        ]


async def test_failed_sign_ins_ban_the_address_from_the_portal_and_sftp(
    config_dir: Path,
) -> None:
    async with running(config_dir, NOW) as gw:
        web = _client(gw)
        try:
            policy = gw.gateway.current_config().gateway.ban
            for _ in range(policy.max_failures):
                status, _ = await web.password("demoair", "wrong")
                assert status == 401
            status, page = await web.password("demoair")  # the right password, too late
            assert status == 429 and "Too many failed sign-ins" in page
        finally:
            await web.close()
        assert gw.gateway.sftp.bans.banned(ip="127.0.0.1")
        with pytest.raises((asyncssh.Error, OSError)):
            await gw.upload("demoair", "after-ban.hot", sample_bytes())


def _amount(page: str, xpath: str) -> Decimal:
    (cell,) = html.fromstring(page).xpath(xpath)
    return Decimal(cell.get("data-amount"))


async def test_the_dashboards_show_the_final_closes_figures(config_dir: Path) -> None:
    """agent1 owes 3987.26 less an 85.00 CCA, agent2 802.75 plus a 45.00 CCA (the demo
    billing worked out by hand, tests/gateway/test_lifecycle.py); Demo Air billed both.  The
    risk check after the close puts agent1's exposure on its dashboard; the CASS office records
    agent2's payment and lifts agent1's default from its own, and agent2's dashboard shows it
    paid."""
    secrets = _secrets(config_dir)
    config = load_config(config_dir)
    period = next(p for p in config.calendars["DE"] if p.code == PERIOD_CODE)
    async with running(config_dir, NOW) as gw:
        await gw.upload("demoair", "november.hot", sample_bytes())
        await gw.answer("demoair", "november.hot")
    async with running(config_dir, period.billing_available + timedelta(minutes=1)) as gw:
        store = gw.gateway.store
        assert store is not None
        for _ in range(600):
            if any(c["completed_at"] and c["kind"] == "final" for c in await store.closes()):
                break
            await asyncio.sleep(0.1)
        pages: dict[str, Any] = {}
        clients = {user: _client(gw) for user in ("agent1", "agent2", "demoair", "ops")}
        try:
            for user, web in clients.items():
                pages[user] = await web.sign_in(user, secrets[user])
            _, pages["statistics"] = await clients["demoair"].get(
                f"/statistics?period={PERIOD_CODE}"
            )
            pages.update(await _office_actions(clients["ops"], gw, period.remittance_day))
            # every document of the period, by the period's code in its name
            _, pages["agent1-period"] = await clients["agent1"].get(f"/?period={PERIOD_CODE}")
            # the payout file pays Demo Air what agent2 paid: its dashboard shows it paid out
            from opencass.billing.payfiles import pay_airlines

            payout = await asyncio.to_thread(pay_airlines, config, "DE", PERIOD_CODE, NOW)
            pages["payout"] = [p.read_bytes() for p in payout if p.suffix == ".xml"]
            _, pages["demoair-paid"] = await clients["demoair"].get("/")
            # the payment is on agent2's dashboard; agent2 itself may not record one
            _, pages["agent2-paid"] = await clients["agent2"].get("/")
            status, _ = await clients["agent2"].post("/payments", {"agent": "x"})
            assert status == 403
        finally:
            for web in clients.values():
                await web.close()
        (profile,) = (gw.mailboxes / "agent1" / "outbox").glob(f"DE_{PERIOD_CODE}_risk_*.txt")
        pages["agent1-risk-profile"] = profile.read_text()
        (report,) = (gw.mailboxes / "demoair" / "outbox").glob(
            f"*_managementstats_{PERIOD_CODE}_997.pdf"
        )
    table = f'//table[@data-period="{PERIOD_CODE}"]//td[contains(@class, "total")]'
    assert _amount(pages["agent1"], table) == Decimal("3902.26")
    assert _amount(pages["agent2"], table) == Decimal("847.75")
    billed = f'//tr[@data-period="{PERIOD_CODE}"]/td[@data-amount]'
    assert _amount(pages["demoair"], billed) == Decimal("3902.26") + Decimal("847.75")
    assert "final" in pages["ops"] and PERIOD_CODE in pages["ops"]
    listed = html.fromstring(pages["agent1-period"]).xpath("//a[starts-with(@href, '/documents/')]")
    names = {a.text_content() for a in listed}
    outbox = {p.name for p in (gw.mailboxes / "agent1" / "outbox").iterdir()}
    assert names == {n for n in outbox if f"_{PERIOD_CODE}_" in n or f"_{PERIOD_CODE}." in n}
    assert any("_statement_" in n for n in names) and len(names) < len(outbox)
    (paid,) = html.fromstring(pages["demoair"]).xpath(f'//tr[@data-period="{PERIOD_CODE}"]/td[3]')
    assert paid.get("data-paid") is None  # no payout file yet
    (paid,) = html.fromstring(pages["demoair-paid"]).xpath(
        f'//tr[@data-period="{PERIOD_CODE}"]/td[@data-paid]'
    )
    (pain,) = pages["payout"]
    amounts = etree.fromstring(pain).xpath("//*[local-name()='InstdAmt']/text()")
    assert Decimal(paid.get("data-paid")) == sum(map(Decimal, amounts)) == Decimal("847.75")
    # risk: agent1's exposure is its unpaid final billing (the risk check after the close), as
    # its risk profile in its outbox says
    (exposure,) = html.fromstring(pages["agent1"]).xpath(
        '//section[@id="risk"]//tr[@data-agent]/td[4]'
    )
    assert Decimal(exposure.get("data-amount")) == Decimal("3902.26")
    assert f"Exposure:          {exposure.get('data-amount')} (" in pages["agent1-risk-profile"]
    outstanding = f'//table[@data-period="{PERIOD_CODE}"]//td[contains(@class, "outstanding")]'
    assert _amount(pages["agent2"], outstanding) == Decimal("847.75")
    assert _amount(pages["agent2-paid"], outstanding) == Decimal("0")
    assert "payment #" in pages["ops-paid"]
    assert pages["refusals"] == [409, 400, 400]  # unknown agent, negative amount, no reason
    # the default recorded for agent1 is lifted from the page, with its reason
    assert 'action="/reinstate"' in pages["ops-default"]
    assert 'action="/reinstate"' not in pages["ops-reinstated"]
    (netted,) = html.fromstring(pages["ops"]).xpath(
        f'//table[@class="closes"]//tr[td="{PERIOD_CODE}" and td="final"]/td[@data-total]'
    )
    assert Decimal(netted.get("data-total")) == Decimal("3902.26") + Decimal("847.75")
    # the airline's statistics are the Management Statistics report's figures (as pdftotext
    # reads the report): each agent's and route's tonnage and revenue, in the same words
    text = subprocess.run(
        ["pdftotext", "-layout", str(report), "-"], capture_output=True, text=True, check=True
    ).stdout
    doc = html.fromstring(pages["statistics"])
    cells = doc.xpath(
        "//table[@id='by-agent' or @id='by-route']//td[@data-weight or @data-revenue]"
    )
    assert len(cells) == 2 * (2 + 3)  # two agents, three routes
    words = set(text.split())
    for cell in cells:
        number = re.sub(r"[^0-9.,]", "", cell.text_content())  # "890,00 €" → "890,00"
        assert number in words, (number, cell.text_content())


async def _office_actions(web: PortalClient, gw: Phase, day: Any) -> dict[str, Any]:
    """The CASS office records agent2's payment, is refused wrong ones, lifts agent1's default
    (recorded as the remittance check would) from its dashboard."""
    from opencass.store.remittance import record_default
    from opencass.store.tx import transaction

    out: dict[str, Any] = {}
    pay = {"amount": "847.75", "value_date": day.isoformat(),
           "reference": "CASS DE agent2"}  # fmt: skip
    config = load_config(gw.config_dir)
    agent2 = config.companies["agent2"].agent_codes["DE"][0]
    agent1 = config.companies["agent1"].agent_codes["DE"][0]
    refusals = [(await web.post("/payments", {**pay, "agent": "99999999999"}))[0],
                (await web.post("/payments", {**pay, "agent": agent2, "amount": "-1"}))[0],
                (await web.post("/reinstate", {"agent": agent1, "reason": " "}))[0]]  # fmt: skip
    _, out["ops-paid"] = await web.post("/payments", {**pay, "agent": agent2})
    conn = db_connect(config.gateway.database)
    try:
        with transaction(conn):
            record_default(conn, "DE", agent1, day, "3 irregularities", PERIOD_CODE, NOW)
    finally:
        conn.close()
    _, out["ops-default"] = await web.get("/")
    status, out["ops-reinstated"] = await web.post(
        "/reinstate", {"agent": agent1, "reason": "guarantee renewed"}
    )
    assert status == 200
    out["refusals"] = refusals
    return out


async def _until(check: Any, what: str, timeout: float = 30) -> Any:
    for _ in range(int(timeout * 10)):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} not seen within {timeout} s")


async def test_upload_dispute_and_answer_through_the_pages(config_dir: Path) -> None:
    """Demo Air uploads its billing through the page; after the reports agent1 finds the AWB,
    disputes it from its line, Demo Air accepts from its dashboard; the final billing carries
    the adjustment (3902.26 less 50.00, as the same messages over SFTP give:
    tests/gateway/test_lifecycle.py)."""
    secrets = _secrets(config_dir)
    config = load_config(config_dir)
    period = next(p for p in config.calendars["DE"] if p.code == PERIOD_CODE)
    async with running(config_dir, NOW) as gw:
        web = _client(gw)
        try:
            await web.sign_in("demoair", secrets["demoair"])
            status, page = await web.get("/upload")
            assert status == 200
            form = aiohttp.FormData()
            form.add_field("csrf", web.token)
            form.add_field("file", sample_bytes(), filename="november.hot")
            status, page = await web.post_form("/upload", form)
            assert status == 200 and "november.hot" in page  # "submitted"
            status, _ = await web.post_form("/upload", _file_form(web.token, ".hidden.hot"))
            assert status == 409  # no hidden name: the intake would never see it

            async def answered() -> bool:
                _, page = await web.get("/")
                return 'data-outcome="accepted"' in page

            await _until(answered, "the uploaded file's outcome")
            # withdrawn from its line, then sent again (the lifecycle's first phase)
            _, page = await web.get("/")
            (button,) = html.fromstring(page).xpath(
                '//tr[@data-file="november.hot"]//form[@action="/withdraw"]'
            )
            file_id = button.xpath('.//input[@name="file"]')[0].get("value")
            status, _ = await web.post("/withdraw", {"file": file_id})
            assert status == 200

            async def withdrawn() -> bool:
                _, page = await web.get("/")
                row = html.fromstring(page).xpath('//tr[@data-file="november.hot"]')
                return bool(row) and "zurückgezogen" in row[0].text_content()

            await _until(withdrawn, "the withdrawal")
            status, _ = await web.post_form("/upload", _file_form(web.token, "november-2.hot"))
            assert status == 200

            async def again() -> bool:
                _, page = await web.get("/")
                row = html.fromstring(page).xpath('//tr[@data-file="november-2.hot"]')
                return bool(row) and 'data-outcome="accepted"' in html.tostring(row[0]).decode()

            await _until(again, "the file sent again")
        finally:
            await web.close()
        store = gw.gateway.store
        assert store is not None

        async def archived() -> list[Any]:
            done = await store.files_in_states(["archived"])
            return done if len(done) == 3 else []

        rows = await _until(archived, "the files archived")
        names = sorted(r.name for r in rows)
        assert names[:2] == ["november-2.hot", "november.hot"]
        assert names[2].startswith("withdraw_") and {r.user for r in rows} == {"demoair"}
        assert list((gw.mailboxes / "demoair" / "outbox").glob("*_receipt_*.xml.sig"))

    async with running(config_dir, period.reports_available + timedelta(hours=1)) as gw:
        agent, airline = _client(gw), _client(gw)
        try:
            await agent.sign_in("agent1", secrets["agent1"])
            status, page = await agent.get("/awb?q=997-62144154")
            line = f'//tr[@data-period="{PERIOD_CODE}"]/td[@data-amount]'
            assert _amount(page, line) == Decimal("3987.26")
            status, page = await agent.get("/awb?q=997-00000000")
            assert "data-amount" not in page
            status, page = await agent.post(
                "/disputes",
                {"period": PERIOD_CODE, "prefix": "997", "serial": "62144154",
                 "agent": "23470068510", "billed": "3987.26", "kind": "change",
                 "claimed": "3937.26", "reason": "weight charge rated at the wrong rate"},
            )  # fmt: skip
            assert status == 200
            store = gw.gateway.store
            assert store is not None

            async def opened() -> list[Any]:
                return [d for d in await _disputes(gw) if d[1] == "REQUEST_PENDING"]

            (dispute,) = await _until(opened, "the dispute")
            assert dispute[2:] == ("agent1", "demoair", "50.00")
            # both sides see when the airline's answer is due (its response cut-off)
            _, mine = await agent.get("/")
            due = html.fromstring(mine).xpath('//tr[@data-dispute="997-62144154"]/td[@class="due"]')
            assert due and str(period.airline_response_cutoff.year) in due[0].text_content()
            await airline.sign_in("demoair", secrets["demoair"])
            _, page = await airline.get("/")
            (theirs,) = html.fromstring(page).xpath(
                '//tr[@data-dispute="997-62144154"]/td[@class="due"]'
            )
            assert theirs.text_content() == due[0].text_content() != ""
            form = html.fromstring(page).xpath('//tr[@data-dispute="997-62144154"]//form')
            assert form, "the airline's dashboard offers the answer"
            iri = form[0].xpath('.//input[@name="iri"]')[0].get("value")
            status, _ = await airline.post(
                "/disputes/answer", {"iri": iri, "kind": "change", "answer": "accept"}
            )
            assert status == 200

            async def accepted() -> list[Any]:
                return [d for d in await _disputes(gw) if d[1] == "REQUEST_ACCEPTED"]

            await _until(accepted, "the accepted dispute")
            # the agent may not answer, the airline may not dispute
            status, _ = await agent.post("/disputes/answer", {"iri": iri, "answer": "accept"})
            assert status == 400
        finally:
            await agent.close()
            await airline.close()

    async with running(config_dir, period.billing_available + timedelta(minutes=1)) as gw:
        assert gw.gateway.closes is not None
        await gw.gateway.closes.idle()
        web = _client(gw)
        try:
            page = await web.sign_in("agent1", secrets["agent1"])
        finally:
            await web.close()
    table = f'//table[@data-period="{PERIOD_CODE}"]//td[contains(@class, "total")]'
    assert _amount(page, table) == Decimal("3852.26")


def _file_form(token: str, name: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("csrf", token)
    form.add_field("file", sample_bytes(), filename=name)
    return form


async def _disputes(gw: Phase) -> list[tuple[Any, ...]]:
    database = gw.gateway.current_config().gateway.database

    def read() -> list[tuple[Any, ...]]:
        conn = db_connect(database)
        try:
            sql = ("SELECT request_iri, status, agent_company, airline_company, disputed_amount"
                   " FROM disputes")  # fmt: skip
            return [tuple(r) for r in conn.execute(sql).fetchall()]
        finally:
            conn.close()

    return await asyncio.to_thread(read)


async def test_no_page_shows_another_companys_data(config_dir: Path) -> None:
    """Every page the portal routes, as a user of each company, with the other companies'
    documents and files in place: no page names another company's documents or files, or is
    allowed to act for it."""
    secrets = _secrets(config_dir)
    async with running(config_dir, NOW) as gw:
        await gw.upload("demoair", "november.hot", sample_bytes())
        await gw.answer("demoair", "november.hot")
        marks = {}
        for company in ("demoair", "agent1", "agent2", "cassops"):
            outbox = gw.mailboxes / company / "outbox"
            outbox.mkdir(parents=True, exist_ok=True)
            marks[company] = f"only-for-{company}.txt"
            (outbox / marks[company]).write_text(f"{company}'s own\n")
        assert gw.gateway.portal is not None
        routes = sorted(
            r.resource.canonical
            for r in gw.gateway.portal.runner.app.router.routes()
            if r.method == "GET" and r.resource is not None
            and not r.resource.canonical.startswith("/signin/oidc")  # a sign-in, not a page
        )  # fmt: skip
        users = {"demoair": "demoair", "agent1": "agent1", "agent2": "agent2", "ops": "cassops"}
        for user, company in users.items():
            web = _client(gw)
            try:
                await web.sign_in(user, secrets[user])
                for route in routes:
                    for other, mark in marks.items():
                        path = route.replace("{name}", mark)
                        status, page = await web.get(path + "?period=" + PERIOD_CODE)
                        if other != company:
                            assert mark not in page and f"{other}'s own" not in page, (user, path)
                            if "/documents/" in route:
                                assert status == 404, (user, path)
                    if route == "/":
                        assert (
                            "november.hot" in page
                            if company == "demoair"
                            else ("november.hot" not in page)
                        ), user
                for other in users.values():
                    if other != company:
                        status, _ = await web.post("/switch", {"company": other, "country": "DE"})
                        assert status == 403, (user, other)
            finally:
                await web.close()


async def test_the_office_retries_a_dead_letter_from_its_dashboard(config_dir: Path) -> None:
    secrets = _secrets(config_dir)
    async with running(config_dir, NOW) as gw:
        database = gw.gateway.current_config().gateway.database

        def dead() -> int:
            conn = db_connect(database)
            try:
                conn.execute(
                    "INSERT INTO deliveries (event_id, company, channel, kind, name, state,"
                    " attempts, next_at, last_error, created_at) VALUES ((SELECT MIN(id) FROM"
                    " events), 'agent1', 'push', 'document', 'lost.pdf', 'dead', 8, ?, ?, ?)",
                    (NOW.isoformat(), "connection refused", NOW.isoformat()),
                )
                conn.commit()
                return int(conn.execute("SELECT MAX(id) FROM deliveries").fetchone()[0])
            finally:
                conn.close()

        delivery = await asyncio.to_thread(dead)
        agent, ops = _client(gw), _client(gw)
        try:
            await agent.sign_in("agent1", secrets["agent1"])
            status, _ = await agent.post("/outbox/retry", {"delivery": str(delivery)})
            assert status == 403  # only the CASS office
            page = await ops.sign_in("ops", secrets["ops"])
            row = html.fromstring(page).xpath(f'//tr[@data-delivery="{delivery}"]')
            assert row and "connection refused" in row[0].text_content()
            status, page = await ops.post("/outbox/retry", {"delivery": str(delivery)})
            assert status == 200 and f'data-delivery="{delivery}"' not in page
            status, _ = await ops.post("/outbox/retry", {"delivery": str(delivery)})
            assert status == 409  # no longer a dead letter
        finally:
            await agent.close()
            await ops.close()
        store = gw.gateway.store
        assert store is not None
        retried = await store.audit_events("outbox_retried")
        assert [(e["user"], e["data"]["delivery"]) for e in retried] == [("ops", delivery)]


async def test_an_administrator_manages_the_companys_users(config_dir: Path) -> None:
    """Each change goes as the cass:UserAdministration message the in-house system would send:
    the user appears, its roles change, it is suspended, the last administrator cannot be
    removed (the same rule answers), and another company's administrator sees none of it."""
    secrets = _secrets(config_dir)
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    async with running(config_dir, NOW) as gw:
        admin, other = _client(gw), _client(gw)
        try:
            await admin.sign_in("demoair", secrets["demoair"])
            status, page = await admin.get("/users")
            assert status == 200 and 'data-user="demoair"' in page
            _, page = await admin.get("/settings")  # the rules in force, each with its source
            rules = html.fromstring(page).xpath("//table[@class='rules']//tr[@data-rule]")
            subscriptions = load_config(config_dir).companies["demoair"].subscriptions
            assert len(rules) == len(subscriptions) > 0
            assert [r.get("data-source") for r in rules] == ["default"] * len(subscriptions)
            status, _ = await admin.post(
                "/users",
                {"kind": "add-user", "user": "clerk", "full_name": "A. Clerk",
                 "email": "clerk@demoair.example", "roles": "input", "key": key},
            )  # fmt: skip
            assert status == 200

            async def row(user: str, status: str = "active") -> bool:
                _, page = await admin.get("/users")
                found = html.fromstring(page).xpath(f'//tr[@data-user="{user}"]')
                return bool(found) and found[0].get("data-status") == status

            await _until(lambda: row("clerk"), "the new user")
            member = gw.gateway.directory.active("clerk")
            assert member is not None and member.company == "demoair"
            assert [r.value for r in member.user.roles] == ["input"]
            assert len(member.user.public_keys) == 1
            await admin.post("/users", {"kind": "suspend-user", "user": "clerk"})
            await _until(lambda: row("clerk", "suspended"), "the suspension")
            await admin.post("/users", {"kind": "remove-user", "user": "demoair"})
            await asyncio.sleep(1.5)  # refused: demoair is the last administrator
            assert await row("demoair")
            await other.sign_in("agent1", secrets["agent1"])
            _, page = await other.get("/users")
            assert "clerk" not in page and 'data-user="demoair"' not in page
        finally:
            await admin.close()
            await other.close()
        store = gw.gateway.store
        assert store is not None
        reports = sorted((gw.mailboxes / "demoair" / "outbox").glob("*_validation_*.txt"))
        texts = [p.read_text() for p in reports]
        assert any("USER_LAST_ADMIN" in t for t in texts)


async def test_an_administrator_sets_the_companys_rules_and_push_server(
    config_dir: Path, tmp_path: Path
) -> None:
    """Demo Air's administrator makes the gateway's push key, authorises it on its own server
    (a real SFTP server on 127.0.0.1), sets that server and a rule (file answers, with XML
    notifications and text summaries, pushed); the next upload's report and notifications
    arrive on the server.  A wrong rule and a wrong host key are refused with the reason; a
    rule removed is no longer in force; another company's administrator changes nothing of
    Demo Air's."""
    from opencass.outbox.push_server import PushServer

    secrets = _secrets(config_dir)
    async with running(config_dir, NOW) as gw:
        admin, clerk = _client(gw), _client(gw)
        try:
            await admin.sign_in("demoair", secrets["demoair"])
            status, page = await admin.get("/settings")
            assert status == 200 and 'id="public-key"' not in page
            status, page = await admin.post("/settings", {"kind": "make-key"})
            (key,) = html.fromstring(page).xpath('//pre[@id="public-key"]/text()')
            assert key.startswith("ssh-ed25519 ")
            async with PushServer(tmp_path / "erp", asyncssh.generate_private_key("ssh-ed25519"),
                                  [key], username="cass") as server:  # fmt: skip
                wrong = {"kind": "push", "host": "127.0.0.1", "port": str(server.port),
                         "username": "cass", "host_key": "ssh-ed25519 nonsense"}  # fmt: skip
                status, page = await admin.post("/settings", wrong)
                assert status == 400 and "host_key" in page
                status, page = await admin.post(
                    "/settings", {**wrong, "host_key": server.host_key_line, "remote_dir": "in"}
                )
                assert status == 200 and 'data-push="own"' in page
                (tmp_path / "erp" / "in").mkdir()
                rule = aiohttp.FormData()
                for name, value in (("csrf", admin.token), ("kind", "add-rule"),
                                    ("events", "file.accepted"), ("events", "file.rejected"),
                                    ("formats", "xml"), ("formats", "text"), ("push", "1"),
                                    ("description", "answers to our ERP")):  # fmt: skip
                    rule.add_field(name, value)
                status, page = await admin.post_form("/settings", rule)
                assert status == 200
                own = html.fromstring(page).xpath('//tr[@data-source="own"]')
                assert len(own) == 1 and "answers to our ERP" in own[0].text_content()
                bad = {"kind": "add-rule", "events": "file.nonsense", "formats": "xml"}
                status, page = await admin.post("/settings", bad)
                assert status == 400 and "file.nonsense" in page

                # another company's administrator acts on its own company only
                await clerk.sign_in("agent1", secrets["agent1"])
                status, _ = await clerk.post("/settings", {"kind": "remove-rule", "index": "0"})
                assert status == 400  # agent1 has no rule of its own; Demo Air's stays
                _, page = await admin.get("/settings")
                assert len(html.fromstring(page).xpath('//tr[@data-source="own"]')) == 1

                status, _ = await admin.post_form("/upload", _file_form(admin.token, "rules.hot"))
                assert status == 200

                def pushed() -> list[str]:
                    return sorted(p.name for p in (tmp_path / "erp" / "in").iterdir())

                async def arrived() -> bool:
                    names = await asyncio.to_thread(pushed)
                    return any("_validation_" in n for n in names) and len(names) >= 3

                await _until(arrived, "the pushed summary and report", timeout=60)
                names = pushed()
                summary = next(n for n in names if n.endswith(".txt"))
                text = (tmp_path / "erp" / "in" / summary).read_text()
                assert "rules.hot" in text and "file.accepted" in text, text
                assert summary.replace(".txt", ".xml") in names, names  # and the notification
            status, page = await admin.post("/settings", {"kind": "remove-rule", "index": "0"})
            assert status == 200 and 'data-source="own"' not in page
        finally:
            await admin.close()
            await clerk.close()
        store = gw.gateway.store
        assert store is not None
        changes = await store.audit_events("company_settings_changed")
    kinds = [(e["user"], e["data"]["change"]) for e in changes]
    assert kinds == [("demoair", k) for k in ("make-key", "push", "add-rule", "remove-rule")]
