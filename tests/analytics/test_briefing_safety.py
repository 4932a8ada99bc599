"""The briefing never shows a suppressed theme's label, and a resident's quote cannot inject
Markdown or HTML into briefing.md."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from analytics_helpers import add_respondent
from sqlalchemy import Engine
from sqlmodel import Session

from engage.analytics.briefing import export_briefing, markdown_safe, render_json
from engage.config import Settings

NOW = datetime(2026, 10, 2, 9, 30, tzinfo=UTC)


def test_a_theme_below_the_minimum_group_size_is_not_named(
        db_engine: Engine, settings: Settings, tmp_path: Path) -> None:
    with Session(db_engine) as session:
        for i in range(12):
            add_respondent(session, district="Southern", answers={"trust_respect": 3},
                           text=f"we need more street lights on block {i}", sentiment=0.1)
        for _ in range(3):  # a private person, named by three residents
            add_respondent(session, district="Southern", answers={"trust_respect": 3},
                           text="Officer Whitakerson Whitakerson harasses kids", sentiment=-0.5)
        session.commit()
    out = tmp_path / "southern.md"
    briefing, _ = export_briefing(engine=db_engine, settings=settings, area="Southern",
                                  session_id=None, out=out, now=NOW, fmt="md")
    assert briefing.themes and all(t.mentions is not None and t.mentions >= 10
                                   for t in briefing.themes)
    assert any("street light" in t.label for t in briefing.themes)
    for text in (out.read_text(), render_json(briefing)):
        assert "whitakerson" not in text.lower()
        assert "fewer than 10 mentions" not in text


def test_quotes_cannot_inject_headings_html_or_links(
        db_engine: Engine, settings: Settings, tmp_path: Path) -> None:
    hostile = ("fine\n# Fake heading\n<img src=x onerror=alert(1)> [click](javascript:x) "
               "**loud** | a | table")
    with Session(db_engine) as session:
        for i in range(11):
            add_respondent(session, district="Western", answers={"trust_respect": 3},
                           text=f"{hostile} {i}" if i < 3 else f"more street lights please {i}",
                           sentiment=-0.9 if i < 3 else 0.2, consent_quotes="granted")
        session.commit()
    out = tmp_path / "western.md"
    briefing, _ = export_briefing(engine=db_engine, settings=settings, area="Western",
                                  session_id=None, out=out, now=NOW, fmt="md")
    assert any("Fake heading" in q for q in briefing.quotes)
    text = out.read_text()
    assert not any(line.startswith("# Fake") for line in text.splitlines())
    assert "<img" not in text and "[click](" not in text and "**loud**" not in text
    quote_lines = [line for line in text.splitlines() if "Fake heading" in line]
    assert quote_lines and all(line.startswith("> ") for line in quote_lines)
    assert json.loads(render_json(briefing))["quotes"]  # JSON carries the text, as data


def test_markdown_safe_escapes_everything_that_renders() -> None:
    assert markdown_safe("a\n\n## b") == "a \\#\\# b"
    assert markdown_safe("<b>x</b> & y") == "&lt;b&gt;x&lt;/b&gt; &amp; y"
    assert markdown_safe("[x](y) ![i](z) `c` _e_ ~s~") == \
        "\\[x\\]\\(y\\) \\!\\[i\\]\\(z\\) \\`c\\` \\_e\\_ \\~s\\~"
    assert markdown_safe("don't stop") == "don't stop"
