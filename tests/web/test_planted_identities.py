"""Residents plant identities in their answers (names, spelled numbers, emails, addresses, in
English and Spanish) through the real webhook; none of them appears in any export, briefing,
report, log line or stored free-text column afterwards."""

from __future__ import annotations

import io
import logging
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engage.analytics.briefing import export_briefing
from engage.analytics.exports import export_summary
from engage.analytics.report import build_report
from engage.logging import configure
from tests.web.conftest import SmsHarness
from tests.web.stored_text import everything_stored

NOW = datetime(2026, 10, 2, 9, 30, tzinfo=UTC)

PLANTED_EN = [
    "My name is Jane Marlowe, call me at four one zero five five five zero one nine nine",
    "I'm Desmond Okafor. Write to desmond dot okafor at example dot com about the lights",
    "More lights at twelve hundred north charles street please, email jm@marlowe-mail.com",
    "call me Priscilla Vantongeren, 410-555-0177, I live at 1234 N Charles St",
    "The corner is dark. Reach me on four one oh, five five five, oh one six six",
    "this is Tobias Grunewald from the block association, we need patrols",
]
PLANTED_ES = [
    "Me llamo Rosa Quintanilla, mi número es cuatro uno cero cinco cinco cinco cero uno "
    "cuatro cuatro",
    "Soy Evaristo Mendizábal, escríbame a evaristo arroba correo punto com",
    "Mi nombre es Xiomara Belaunde y vivo en el mil doscientos de Eastern Avenue",
]
NEEDLES = [
    "marlowe", "okafor", "vantongeren", "grunewald", "quintanilla", "mendizábal",
    "mendizabal", "xiomara", "belaunde", "priscilla", "desmond", "evaristo", "tobias",
    "five five five", "cinco cinco cinco", "oh one six six", "example dot com",
    "arroba correo", "twelve hundred north", "mil doscientos", "1234 n charles",
    "555-0177", "5550177", "555-0199", "0199", "jm@",
]
EN = ["hi", "yes", "1", "Canton", "4", "2", "3", "5", "called for help", "4", None, "yes",
      "2", "1", "yes"]
ES = ["hola", "sí", "2", "Canton", "4", "3", "4", "5", "2", "1", None, "sí", "6", "hispano",
      "sí"]


def _files_text(root: Path) -> str:
    parts = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                parts.extend(z.read(n).decode("utf-8", "replace") for n in z.namelist())
        else:
            parts.append(data.decode("utf-8", "replace"))
    return "\n".join(parts)


@pytest.mark.timeout(600)
async def test_planted_identities_reach_no_output(
        sms: SmsHarness, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure(logging.DEBUG, json_lines=True)  # every log line, as production writes them
    residents = []
    texts = [(EN, t) for t in PLANTED_EN * 2] + [(ES, t) for t in PLANTED_ES * 2]
    for n, (script, planted) in enumerate(texts):
        number = f"+1410555{2000 + n:04d}"
        residents.append(number)
        for reply in script:
            await sms.say(planted if reply is None else reply, from_=number)
    out = tmp_path / "out"
    out.mkdir()
    for fmt in ("csv", "json", "xlsx"):
        export_summary(engine=sms.engine, settings=sms.settings, period="2026Q3",
                       by="district", fmt=fmt, out=out / f"summary.{fmt}", now=NOW)
    for fmt in ("md", "json"):
        briefing, _ = export_briefing(engine=sms.engine, settings=sms.settings, area="Canton",
                                      session_id=None, out=out / f"canton.{fmt}", fmt=fmt,
                                      now=NOW, period="2026Q3")
    assert briefing.quotes, "the pipeline must produce quotes, or this test proves nothing"
    build_report(engine=sms.engine, settings=sms.settings, period="2026Q3", out=out / "report",
                 now=NOW)
    logs = capsys.readouterr().err
    assert "inbound" in logs  # the log was written
    stored = everything_stored(sms.engine)
    assert "[name]" in stored and "[phone]" in stored and "[email]" in stored
    assert "[address]" in stored
    for where, text in (("exports", _files_text(out)), ("logs", logs), ("database", stored)):
        lowered = text.lower()
        found = [needle for needle in NEEDLES if needle in lowered]
        assert not found, f"{where} still hold {found}"
        for number in residents:
            assert number not in text and number[2:] not in text, where
    logging.getLogger("engage").handlers.clear()
