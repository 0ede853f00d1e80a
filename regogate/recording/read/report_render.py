"""Rendering the evidence document: JSON (its machine twin), HTML (Jinja templates from
``reports/`` or the package's defaults, inline CSS and SVG charts) and PDF (the ``pdf``
extra). Same document, same bytes: nothing here reads a clock; the one generation line
is passed in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from regogate.recording.format.jcs import JSONValue
from regogate.recording.read.report_aggregate import JSONObject
from regogate.recording.read.report_rows import StatementClass

DEFAULTS = Path(__file__).resolve().parent / "report_templates"
MAIN = "report.html.j2"
# Statement classes' chart colours (all ≥ 4.5:1 against white where text is drawn on them).
COLOURS = {
    StatementClass.READ.value: "#1f5f99",
    StatementClass.WRITE.value: "#8a4b08",
    StatementClass.DDL.value: "#7b1fa2",
    StatementClass.ROLE.value: "#b00020",
    StatementClass.TRANSACTION.value: "#4d5d53",
    StatementClass.OTHER.value: "#5f6368",
}
ROW_LIMIT = 500  # rows of a long table the HTML shows; the JSON twin has every row


def json_text(generated: str, evidence: JSONObject) -> str:
    doc = {"generated": generated, "evidence": evidence}
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def environment(templates: Sequence[Path] = ()) -> Environment:
    """Templates from ``templates`` first (a deployment's ``reports/``), then the defaults."""
    loader = ChoiceLoader(
        [FileSystemLoader([str(t) for t in templates]), FileSystemLoader(DEFAULTS)]
    )
    env = Environment(
        loader=loader,
        autoescape=select_autoescape(["html", "j2"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(
        class_chart=class_chart,
        identity_chart=identity_chart,
        classes=[c.value for c in StatementClass],
        colours=COLOURS,
        row_limit=ROW_LIMIT,
    )
    env.filters["num"] = lambda n: f"{n:,}" if isinstance(n, int) else "\u2013"
    env.filters["short"] = lambda s, n=16: (
        s if not isinstance(s, str) or len(s) <= n else s[:n] + "…"
    )
    return env


def html(evidence: JSONObject, generated: str, templates: Sequence[Path] = ()) -> str:
    return environment(templates).get_template(MAIN).render(e=evidence, generated=generated)


def pdf(html_text: str) -> bytes:
    """The HTML printed to PDF with WeasyPrint (``pip install 'regogate[pdf]'``)."""
    try:
        from weasyprint import HTML  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError as exc:
        raise RuntimeError("PDF output needs WeasyPrint: pip install 'regogate[pdf]'") from exc
    out = HTML(string=html_text).write_pdf()
    assert isinstance(out, bytes)
    return out


def _int(value: JSONValue) -> int:
    return value if isinstance(value, int) else 0


def class_chart(by_class: JSONObject, title: str) -> Markup:
    """A horizontal bar per statement class (SVG, labelled, with a text alternative)."""
    counts = [(c, _int(by_class.get(c))) for c in COLOURS]
    top = max((n for _, n in counts), default=0) or 1
    row, width, label_w = 26, 640, 110
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {row * len(counts) + 8}" '
        f'width="100%" aria-labelledby="{_id(title)}">',
        f'<title id="{_id(title)}">{escape(title)}: '
        + ", ".join(f"{c} {n}" for c, n in counts)
        + "</title>",
    ]
    for i, (cls, n) in enumerate(counts):
        y = i * row + 4
        bar = 0 if n == 0 else max(2, round((width - label_w - 90) * n / top))
        parts.append(f'<text x="0" y="{y + 16}" class="lbl">{cls}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{bar}" height="{row - 8}" '
            f'fill="{COLOURS[cls]}"/>'
        )
        parts.append(f'<text x="{label_w + bar + 6}" y="{y + 16}" class="val">{n:,}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def identity_chart(identities: list[JSONValue], title: str) -> Markup:
    """One stacked bar per identity: its statements by class, and its denials."""
    rows = [i for i in identities if isinstance(i, dict)][:40]
    totals = [_int(r.get("statements")) for r in rows]
    top = max(totals, default=0) or 1
    row, width, label_w = 28, 640, 150
    height = row * len(rows) + 8
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'aria-labelledby="{_id(title)}">',
        f'<title id="{_id(title)}">{escape(title)}</title>',
    ]
    for i, r in enumerate(rows):
        y, x = i * row + 4, label_w
        by_class = r.get("by_class")
        by_class = by_class if isinstance(by_class, dict) else {}
        name = str(r.get("identity"))
        shown = name if len(name) <= 20 else name[:19] + "…"
        parts.append(f'<text x="0" y="{y + 17}" class="lbl">{escape(shown)}</text>')
        for cls, colour in COLOURS.items():
            n = _int(by_class.get(cls))
            if n:
                w = max(1, round((width - label_w - 120) * n / top))
                parts.append(
                    f'<rect x="{x}" y="{y + 4}" width="{w}" height="{row - 10}" fill="{colour}">'
                    f"<title>{cls}: {n}</title></rect>"
                )
                x += w
        denials = _int(r.get("denials"))
        note = f"{_int(r.get('statements')):,}" + (f" · {denials:,} denied" if denials else "")
        parts.append(f'<text x="{x + 6}" y="{y + 17}" class="val">{note}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _id(title: str) -> str:
    return "chart-" + "".join(c if c.isalnum() else "-" for c in title.lower())[:40]
