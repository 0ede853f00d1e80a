"""The page's HTML: Jinja2 templates (autoescaped, strict about undefined names), the
stylesheet, the security headers every page carries, and redirects."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import jinja2

from regogate.approvals.http_server import HttpResponse

TEMPLATES = Path(__file__).parent / "templates"
HTML = "text/html; charset=utf-8"
SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'",
    ),
    ("Referrer-Policy", "same-origin"),  # no-referrer would make Origin "null"
    ("X-Frame-Options", "DENY"),
)


def when(value: float | None) -> str:
    if value is None:
        return "—"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def redirect(location: str, *headers: tuple[str, str]) -> HttpResponse:
    return HttpResponse(303, b"", headers=(("Location", location), *headers))


class Templates:
    def __init__(self) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self._env.filters["when"] = when
        self.css = (TEMPLATES / "app.css").read_bytes()

    def render(
        self,
        status: int,
        template: str,
        context: dict[str, object],
        headers: tuple[tuple[str, str], ...] = (),
    ) -> HttpResponse:
        values = {"me": None, "csrf": "", "error": None, **context}
        body = self._env.get_template(template).render(**values).encode()
        return HttpResponse(status, body, HTML, (*SECURITY_HEADERS, *headers))
