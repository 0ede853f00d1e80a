"""A held statement decided in the approvals page, end to end: a real `regogate serve`
(OPA sidecar, the default policy library, real PostgreSQL), a psycopg client whose
UPDATE is held, and an approver who signs in to the page in headless Chromium (Debian's
chromium driven by Playwright), reads the redacted statement, and approves or denies it
with a comment (docs/approvals.md, "The page" and "Holding a statement")."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from regogate.pgserver import free_port
from tests.fix_gateway import TOKENS, start_gateway
from tests.fix_pg import PgFixture
from tests.proxy.test_approval_hold_e2e import APPROVER, Approvals, approvals_extra, held_update

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ACCOUNT = 1207
# literals a person must not see on the page: the statement is shown with $1, $2
UPDATE = f"UPDATE accounts SET balance = balance + 31.07 WHERE id = {ACCOUNT}"
SHOWN = "UPDATE accounts SET balance = balance + $1 WHERE id = $2"


@pytest.fixture(scope="module")
def appr(pg: PgFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Approvals]:
    """One gateway for the module: each test decides its own request to the end."""
    tmp = tmp_path_factory.mktemp("approval-page")
    port = free_port()
    gw = start_gateway(pg, tmp / "gw", extra=approvals_extra(tmp, port))
    assert gw.process is not None
    try:
        yield Approvals(gw, f"http://127.0.0.1:{port}", tmp)
    finally:
        gw.process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()  # its own cookies: signed out
    try:
        yield context.new_page()
    finally:
        context.close()


def page_url(appr: Approvals) -> str:
    """Chromium keeps Secure cookies over plain http only for localhost."""
    return appr.url.replace("127.0.0.1", "localhost")


def sign_in(page: Page, url: str, token: str) -> None:
    page.goto(f"{url}/")
    assert page.url.endswith("/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")


def balance(pg: PgFixture) -> Decimal:
    with psycopg.connect(pg.admin_dsn("bank"), autocommit=True) as conn:
        row = conn.execute("SELECT balance FROM accounts WHERE id = %s", (ACCOUNT,)).fetchone()
    assert row is not None and isinstance(row[0], Decimal)
    return row[0]


def open_pending(page: Page, url: str, request_id: str) -> None:
    """From the list of what waits for this approver to the request's own page."""
    sign_in(page, url, APPROVER[1])
    item = page.locator(".requests li", has=page.locator(f"a[href='/requests/{request_id}']"))
    assert item.count() == 1
    assert item.locator(".stmt").inner_text() == SHOWN
    assert item.locator(".who").inner_text() == "dba on bank"
    shown = page.locator("body").inner_text()
    assert "31.07" not in shown and not re.search(rf"\b{ACCOUNT}\b", shown)
    item.locator("a").click()
    page.wait_for_url(re.compile(f"/requests/{request_id}$"))
    expect(page.locator("h1 .status")).to_have_text("pending")
    assert page.locator("pre.stmt").inner_text() == SHOWN
    facts = page.locator("dl.facts").inner_text()
    assert "dba" in facts and "writes to public.accounts need approval" in facts


def test_a_held_statement_approved_in_the_page_runs(appr: Approvals, page: Page) -> None:
    before = balance(appr.gw.pg)
    thread, out, notices = held_update(appr.gw, UPDATE)
    request = appr.pending()
    url = page_url(appr)
    open_pending(page, url, request["id"])
    assert thread.is_alive()  # still held while the approver reads
    page.fill("#comment", "ticket 4711, checked with finance")
    page.click("button[value=approve]")  # POST, then 303 back to this same address
    # approved, and perhaps already used by the holder: either way no more buttons
    expect(page.locator("h1 .status")).to_have_text(re.compile("^(approved|consumed)$"))
    expect(page.locator("form.decide")).to_have_count(0)
    thread.join(15)
    assert out == {"value": 1}, out
    assert balance(appr.gw.pg) == before + Decimal("31.07")
    assert any(request["id"] in n for n in notices), notices
    body = appr.get(request["id"])
    assert body["status"] == "consumed"
    [vote] = body["votes"]
    assert vote["approver"]["sub"] == APPROVER[0] and vote["verdict"] == "approve"
    assert vote["comment"] == "ticket 4711, checked with finance"
    page.reload()
    expect(page.locator("h1 .status")).to_have_text("consumed")
    expect(page.locator(".votes")).to_contain_text("ticket 4711, checked with finance")


def test_a_held_statement_denied_in_the_page_fails_with_the_comment(
    appr: Approvals, browser: Browser, page: Page
) -> None:
    before = balance(appr.gw.pg)
    thread, out, _ = held_update(appr.gw, UPDATE)
    request = appr.pending()
    url = page_url(appr)

    # the requester (a DBA) sees their own request and cannot decide it
    own_context = browser.new_context()
    try:
        own = own_context.new_page()
        sign_in(own, url, TOKENS["dba"][0])
        own.goto(f"{url}/requests/{request['id']}")
        expect(own.locator("pre.stmt")).to_have_text(SHOWN)
        expect(own.locator("form.decide")).to_have_count(0)
        expect(own.locator("p.notice")).to_contain_text("your own")
    finally:
        own_context.close()

    open_pending(page, url, request["id"])
    page.click("button[value=deny]")  # without a reason: refused, still held
    expect(page.locator(".notice.error")).to_contain_text("needs a reason")
    assert appr.get(request["id"])["status"] == "pending" and thread.is_alive()
    page.fill("#comment", "use the nightly batch")
    page.click("button[value=deny]")
    page.wait_for_url(re.compile(f"/requests/{request['id']}$"))
    expect(page.locator("h1 .status")).to_have_text("denied")
    thread.join(15)
    error = out.get("error")
    assert isinstance(error, psycopg.Error), out
    assert error.sqlstate == "RA002"  # docs/approvals.md: an approver denied it
    assert error.diag.message_detail is not None
    assert "use the nightly batch" in error.diag.message_detail
    assert APPROVER[0] in str(error) and "use the nightly batch" in str(error)
    assert balance(appr.gw.pg) == before
    assert appr.get(request["id"])["status"] == "denied"
