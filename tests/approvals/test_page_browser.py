"""The approvals page in headless Chromium (Debian's chromium, driven by Playwright, as in
tests/report): sign in with a token, approve and deny, the requester sees no buttons on
their own request, a POST without the CSRF token is refused; screenshots of the three
states go to docs/approvals-*.png."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

from regogate.approvals.model import Status
from tests.approvals.conftest import TOKENS, Served, draft

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parents[2] / "docs"


def local(url: str) -> str:
    """Chromium keeps Secure cookies over plain http only for localhost."""
    return url.replace("127.0.0.1", "localhost")


def sign_in(page: Page, url: str, who: str) -> None:
    page.goto(f"{url}/")
    assert page.url.endswith("/login")
    page.fill("#token", TOKENS[who][0])
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")


def no_overflow(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_approve_and_deny_in_the_page(served: Served) -> None:
    a = served.create(draft())
    b = served.create(draft("carol"))
    url = local(served.url)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            sign_in(page, url, "bob")
            cookie = next(c for c in page.context.cookies() if c["name"] == "rg_approvals")
            assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
            assert page.locator(".requests li").count() == 2
            assert "Mallory" not in page.content()
            assert no_overflow(page)
            page.screenshot(path=str(DOCS / "approvals-pending.png"), full_page=True)

            page.click(f"a[href='/requests/{a.id}']")
            assert (
                page.locator("pre.stmt")
                .inner_text()
                .startswith("UPDATE accounts SET balance = balance - $1")
            )
            assert no_overflow(page)
            page.screenshot(path=str(DOCS / "approvals-detail.png"), full_page=True)
            page.fill("#comment", "checked with finance")
            page.click("button[value=approve]")
            page.wait_for_url(re.compile(f"/requests/{a.id}$"))
            assert page.locator("h1 .status").inner_text() == "approved"
            assert "checked with finance" in page.content()
            page.screenshot(path=str(DOCS / "approvals-decided.png"), full_page=True)
            assert served.get(a.id).status is Status.APPROVED

            page.goto(f"{url}/requests/{b.id}")
            page.click("button[value=deny]")  # no reason: refused, stays pending
            assert "needs a reason" in page.locator(".notice.error").inner_text()
            page.fill("#comment", "use the batch job")
            page.click("button[value=deny]")
            page.wait_for_url(re.compile(f"/requests/{b.id}$"))
            assert page.locator("h1 .status").inner_text() == "denied"
            assert served.get(b.id).status is Status.DENIED

            own = browser.new_page()
            c = served.create(draft("carol"))
            sign_in(own, url, "carol")
            own.goto(f"{url}/requests/{c.id}")
            assert own.locator("form.decide").count() == 0
            assert "your own" in own.locator(".notice").inner_text()
        finally:
            browser.close()


def test_a_post_without_the_csrf_token_or_from_elsewhere_is_refused(served: Served) -> None:
    r = served.create(draft())
    with httpx.Client(base_url=served.url) as client:
        login = client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
        assert csrf is not None
        # httpx keeps a Secure cookie only for https: hand it back by name
        client.cookies.set("rg_approvals_login", login.cookies["rg_approvals_login"])
        signed = client.post("/login", data={"token": TOKENS["bob"][0], "csrf": csrf.group(1)})
        assert signed.status_code == 303
        session = signed.cookies["rg_approvals"]
        cookies = {"rg_approvals": session}
        no_token = httpx.post(
            f"{served.url}/requests/{r.id}/decide", cookies=cookies, data={"verdict": "approve"}
        )
        assert no_token.status_code == 403
        page = httpx.get(f"{served.url}/requests/{r.id}", cookies=cookies)
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        elsewhere = httpx.post(
            f"{served.url}/requests/{r.id}/decide",
            cookies=cookies,
            data={"verdict": "approve", "csrf": token.group(1)},
            headers={"Origin": "https://evil.example"},
        )
        assert elsewhere.status_code == 403
        assert served.get(r.id).status is Status.PENDING
        ok = httpx.post(
            f"{served.url}/requests/{r.id}/decide",
            cookies=cookies,
            data={"verdict": "approve", "csrf": token.group(1)},
        )
        assert ok.status_code == 303
        assert served.get(r.id).status is Status.APPROVED
