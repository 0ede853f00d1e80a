"""The templates in reports/ start as the package's defaults, and a custom one is used."""

from __future__ import annotations

from pathlib import Path

from regogate.recording.read import report_render

ROOT = Path(__file__).resolve().parents[2]


def test_reports_holds_the_defaults() -> None:
    for default in report_render.DEFAULTS.glob("*.j2"):
        assert (ROOT / "reports" / default.name).read_text() == default.read_text(), default.name


def test_a_template_in_the_given_directory_wins(tmp_path: Path) -> None:
    (tmp_path / "report.css.j2").write_text("body { color: #123456; }\n")
    env = report_render.environment([tmp_path])
    assert env.get_template("report.css.j2").render() == "body { color: #123456; }\n"
    assert env.loader is not None
    _, where, _ = env.loader.get_source(env, "report.html.j2")
    assert where == str(report_render.DEFAULTS / "report.html.j2")  # not customized: default
