"""The deliberation pages as staff, mediators and the public use them: the map picture, the
per-group statements table, moderation through forms, escaping, and the public section."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from engage.deliberation import store
from engage.storage.db import session_scope
from engage.storage.tables.deliberation import DelibStatement
from tests.deliberation.seed import two_camps
from tests.web.console.conftest import Console, csrf_of

SCRIPT = "<script>alert(1)</script> street lights"
MARKDOWN = "**Bold** claim [link](http://evil.example) _here_"


def _pending(console: Console, conversation: int, text: str) -> int:
    with session_scope(console.engine) as db:
        return int(store.add_statement(db, conversation, text, author_kind="resident").id or 0)


def test_staff_see_map_and_per_group_table(console: Console) -> None:
    conv, _ = two_camps(console.engine)
    client = console.client("staff")
    listing = client.get("/console/deliberation")
    assert listing.status_code == 200 and f'/console/deliberation/{conv}"' in listing.text
    page = client.get(f"/console/deliberation/{conv}")
    assert page.status_code == 200
    assert f'<img src="/console/deliberation/{conv}/map.svg"' in page.text
    assert "Group A (15): agree / disagree / pass" in page.text
    row = page.text.split("Lights on the bus routes.")[1].split("</tr>")[0]
    assert row.count("100% / 0% / 0%") == 2
    picture = client.get(f"/console/deliberation/{conv}/map.svg")
    assert picture.headers["content-type"].startswith("image/svg+xml")
    assert picture.text.count("<circle") == 2 and "15 people" in picture.text


def test_few_voters_withhold_shares_and_groups(console: Console) -> None:
    conv, _ = two_camps(console.engine, size=3)  # 6 voters, fewer than 10
    client = console.client("admin")
    page = client.get(f"/console/deliberation/{conv}")
    assert "Shares withheld" in page.text and "fewer than 10" in page.text
    assert "% / " not in page.text
    picture = client.get(f"/console/deliberation/{conv}/map.svg").text
    assert "<circle" not in picture and "Not enough voters" in picture


def test_statements_are_shown_as_text_not_markup(console: Console) -> None:
    conv, _ = two_camps(console.engine, agreed=SCRIPT, split=MARKDOWN)
    _pending(console, conv, "<img src=x onerror=alert(2)> pending")
    client = console.client("staff")
    page = client.get(f"/console/deliberation/{conv}").text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "**Bold** claim [link](http://evil.example) _here_" in page  # literally, no <a>
    assert 'href="http://evil.example"' not in page and "<strong>" not in page
    svg = client.get(f"/console/deliberation/{conv}/map.svg").text
    assert "<script" not in svg


def test_moderation_approve_and_reject_with_reason(console: Console) -> None:
    conv, _ = two_camps(console.engine)
    keep = _pending(console, conv, "Fix the park lights.")
    drop = _pending(console, conv, "Something off topic.")
    client = console.client("staff")
    page = client.get(f"/console/deliberation/{conv}")
    assert 'for="reason-' in page.text and "Waiting for moderation (2)" in page.text
    token = csrf_of(page.text)
    url = f"/console/deliberation/{conv}/moderate"
    done = client.post(url, data={"csrf_token": token, "statement": str(keep),
                                  "decision": "approve"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].endswith("?done=approved")
    missing = client.post(url, data={"csrf_token": token, "statement": str(drop),
                                     "decision": "reject", "reason": "  "})
    assert missing.status_code == 400 and "A rejection needs a reason" in missing.text
    rejected = client.post(url, data={"csrf_token": token, "statement": str(drop),
                                      "decision": "reject", "reason": "Off topic"})
    assert rejected.status_code == 200 and "Statement rejected." in rejected.text
    again = client.post(url, data={"csrf_token": token, "statement": str(drop),
                                   "decision": "approve"})
    assert again.status_code == 400 and "not waiting for moderation" in again.text
    forged = client.post(url, data={"statement": str(keep), "decision": "reject",
                                    "reason": "x"})
    assert forged.status_code == 403
    with Session(console.engine) as db:
        kept, gone = db.get(DelibStatement, keep), db.get(DelibStatement, drop)
        assert kept is not None and kept.status == "approved"
        assert kept.moderated_by == f"user:{console.users['staff']}"
        assert gone is not None and gone.status == "rejected" and gone.reason == "Off topic"


def test_mediator_sees_only_conversations_of_own_sessions(console: Console) -> None:
    mine, _ = two_camps(console.engine, dialogue_session_id=console.session_id)
    other, _ = two_camps(console.engine)
    client = console.client("mediator")
    listing = client.get("/console/deliberation").text
    assert f'/console/deliberation/{mine}"' in listing
    assert f'/console/deliberation/{other}"' not in listing
    assert client.get(f"/console/deliberation/{mine}").status_code == 200
    for path in ("", "/map.svg"):
        assert client.get(f"/console/deliberation/{other}{path}").status_code == 404
    token = csrf_of(client.get(f"/console/deliberation/{mine}").text)
    pending = _pending(console, other, "Not yours to moderate.")
    answer = client.post(f"/console/deliberation/{other}/moderate",
                         data={"csrf_token": token, "statement": str(pending),
                               "decision": "approve"})
    assert answer.status_code == 404
    assert client.get("/console/deliberation/999").status_code == 404


def test_public_page_shows_consensus_of_finished_conversations(console: Console) -> None:
    public = console.client()

    def fresh(path: str) -> str:  # the section is cached for up to five minutes (documented)
        console.app.state.console_figures = None
        return str(public.get(path).text)

    assert "Where neighbours agree" not in fresh("/public/")  # nothing when none
    two_camps(console.engine, closes_at=datetime.now(UTC) + timedelta(days=1))
    assert "Where neighbours agree" not in fresh("/public/")  # still open
    _, agreed = two_camps(console.engine, agreed=SCRIPT, translation="Luces en las calles.",
                          closes_at=datetime.now(UTC) - timedelta(hours=1))
    page = fresh("/public/")
    assert "Where neighbours agree" in page and "30 residents voted." in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; street lights" in page
    assert "<script>" not in page and "More patrols at night." not in page
    assert "group A 95%; group B 95% agree" in page
    spanish = fresh("/public/es/")
    assert "En qué coinciden los vecinos" in spanish and "Luces en las calles." in spanish
    with session_scope(console.engine) as db:  # rejected after the fact: gone from the page
        store.moderate(db, agreed, approve=False, by="user:1", reason="names a person",
                       now=datetime.now(UTC))
    assert "Luces en las calles." in public.get("/public/es/").text  # cached, not re-analysed
    assert "Where neighbours agree" not in fresh("/public/")
