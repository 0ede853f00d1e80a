"""The HTML report in headless Chromium (Debian's chromium, driven by Playwright) at
desktop and phone widths: no horizontal overflow, the charts drawn, the banner's colour;
and the PDF (WeasyPrint, the pdf extra) turned into page images with pdftoppm.

Screenshots are kept in the test's directory (``pytest --basetemp`` to find them).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.report.conftest import Recorded, regogate
from tests.report.test_report import make_report, tampered_copy

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WIDTHS = {"desktop": 1280, "phone": 390}
PASS_GREEN, FAIL_RED = "rgb(27, 94, 32)", "rgb(176, 0, 32)"


def layout(html: Path, shots: Path) -> list[dict[str, object]]:
    found = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            for name, width in WIDTHS.items():
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto(html.as_uri())
                page.screenshot(path=str(shots / f"{html.stem}-{name}.png"), full_page=True)
                found.append(
                    page.evaluate(
                        """() => ({
                          scroll: document.documentElement.scrollWidth,
                          inner: window.innerWidth,
                          banner: getComputedStyle(document.querySelector('.banner')).backgroundColor,
                          charts: [...document.querySelectorAll('svg.chart')].map(
                            s => { const r = s.getBoundingClientRect(); return [r.width, r.height]; }),
                          bars: document.querySelectorAll('svg.chart rect').length,
                          h1: document.querySelectorAll('h1').length,
                          headers: document.querySelectorAll('th[scope]').length,
                        })"""
                    )
                )
                page.close()
        finally:
            browser.close()
    return found


def test_the_report_lays_out_at_desktop_and_phone_widths(
    recorded: Recorded, tmp_path: Path
) -> None:
    make_report(recorded, tmp_path)
    html = next(tmp_path.glob("*.html"))
    for seen in layout(html, tmp_path):
        assert seen["scroll"] <= seen["inner"], seen  # no horizontal overflow
        assert seen["banner"] == PASS_GREEN
        charts = seen["charts"]
        assert isinstance(charts, list) and len(charts) == 2
        assert all(w > 200 and h > 50 for w, h in charts), charts
        assert isinstance(seen["bars"], int) and seen["bars"] >= 6
        assert seen["h1"] == 1 and isinstance(seen["headers"], int) and seen["headers"] > 20
    assert all((tmp_path / f"{html.stem}-{n}.png").stat().st_size > 20_000 for n in WIDTHS)


def test_a_failing_report_shows_a_red_banner(recorded: Recorded, tmp_path: Path) -> None:
    log = tampered_copy(recorded, tmp_path)
    out = tmp_path / "out"
    assert regogate("report", "--from", "2024-01-01", "-d", log, "--trust", recorded.trust_a,
                    "-o", out).returncode == 1  # fmt: skip
    for seen in layout(next(out.glob("*.html")), out):
        assert seen["banner"] == FAIL_RED and seen["scroll"] <= seen["inner"]


def test_the_pdf_renders(recorded: Recorded, tmp_path: Path) -> None:
    import weasyprint  # the pdf extra, in the test extra: CI fails rather than skips

    assert weasyprint.__version__
    make_report(recorded, tmp_path, "--format", "html,json,pdf")
    pdf = next(tmp_path.glob("*.pdf"))
    assert pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(["pdftoppm", "-png", "-r", "50", pdf, tmp_path / "page"], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 3 and all(p.stat().st_size > 5_000 for p in pages)
    # The summary tiles in a grid (four a row), not one per row: side by side in the text.
    first = subprocess.run(["pdftotext", "-layout", "-f", "1", "-l", "1", pdf, "-"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    row = [line.split() for line in first.splitlines() if "sessions" in line.split()]
    assert row and row[0][:3] == ["sessions", "statements", "identities"], first
