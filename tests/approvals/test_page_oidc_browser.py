"""OIDC sign-in to the approvals page in headless Chromium (as test_page_browser.py): the
page sends the browser to the test issuer's sign-in form, the issuer sends it back
cross-site, and it lands on the approvals as that person, at phone width; bob approves;
dave, whose group approves nothing, signs in but cannot decide; sign-out stays signed out.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from regogate.approvals.model import Status
from regogate.approvals.oidc_flow import FLOW_COOKIE
from regogate.approvals.web_session import SESSION_COOKIE
from tests.approvals.conftest import Served, draft
from tests.approvals.fix_oidc_page import issuer, oidc_config, serve_oidc
from tests.approvals.test_page_browser import CHROMIUM, no_overflow
from tests.identity.issuer import LocalIssuer

PHONE = {"width": 390, "height": 844}


__all__ = ["issuer"]  # the fixture, imported


@pytest.fixture
def served(tmp_path: Path, issuer: LocalIssuer) -> Iterator[Served]:
    with serve_oidc(oidc_config(tmp_path, issuer.issuer), issuer) as s:
        yield s


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def sign_in(page: Page, url: str, issuer: LocalIssuer, who: str) -> None:
    page.goto(f"{url}/")
    # /  →  /login  →  the issuer's sign-in form, cross-site (127.0.0.1 is not localhost)
    assert page.url.startswith(f"{issuer.issuer}/auth?")
    assert "code_challenge_method=S256" in page.url
    page.fill("#username", who)
    page.click("button[value=sign_in]")
    # issuer → /callback (a page of ours) → / by itself, with the Strict session cookie
    page.wait_for_url(f"{url}/")


def test_sign_in_with_the_issuer_and_approve(
    served: Served, issuer: LocalIssuer, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="regogate")
    a = served.create(draft())
    page = browser.new_page(viewport=PHONE)
    sign_in(page, served.url, issuer, "bob")
    assert page.locator(".me").inner_text() == "bob"
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies[SESSION_COOKIE]
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict"
    assert FLOW_COOKIE not in cookies  # used once, then dropped
    assert page.locator(".requests li").count() == 1
    assert no_overflow(page)

    page.click(f"a[href='/requests/{a.id}']")
    page.fill("#comment", "signed in with OIDC")
    page.click("button[value=approve]")
    page.wait_for_url(re.compile(f"/requests/{a.id}$"))
    assert page.locator("h1 .status").inner_text() == "approved"
    decided = served.get(a.id)
    assert decided.status is Status.APPROVED
    voter = decided.votes[0].approver
    assert (voter.sub, voter.issuer, voter.groups) == ("bob", issuer.issuer, ("dba",))

    code = issuer.token_requests[-1]["code"]
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("regogate"))
    assert "bob (issuer" in ours and code not in ours

    page.click("button:has-text('Sign out')")
    page.wait_for_url(re.compile(r"/login\?signed_out=1$"))
    assert "You have signed out" in page.content()  # not sent straight back to the issuer
    assert no_overflow(page)
    page.goto(f"{served.url}/requests/{a.id}")
    assert page.url.startswith(f"{issuer.issuer}/auth?")  # the session is gone


def test_a_person_who_approves_nothing_cannot_decide(
    served: Served, issuer: LocalIssuer, browser: Browser
) -> None:
    r = served.create(draft())
    page = browser.new_page(viewport=PHONE)
    sign_in(page, served.url, issuer, "dave")
    assert page.locator(".me").inner_text() == "dave"
    assert "Nothing is waiting for you." in page.content()
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    assert csrf
    shown = page.goto(f"{served.url}/requests/{r.id}")
    assert shown is not None and shown.status == 404
    assert page.locator("form.decide").count() == 0
    tried = page.request.post(
        f"{served.url}/requests/{r.id}/decide", form={"verdict": "approve", "csrf": csrf}
    )
    assert tried.status == 404
    assert served.get(r.id).status is Status.PENDING


def test_a_refused_sign_in_is_a_readable_page(
    served: Served, issuer: LocalIssuer, browser: Browser
) -> None:
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{served.url}/")
    page.click("button[value=deny]")  # cancel at the issuer
    page.wait_for_url(re.compile(r"/callback\?"))
    assert "did not sign you in" in page.locator(".notice.error").inner_text()
    assert no_overflow(page)
    page.click("#sso")  # try again
    page.fill("#username", "carol")
    page.click("button[value=sign_in]")
    page.wait_for_url(f"{served.url}/")
    assert page.locator(".me").inner_text() == "carol"
