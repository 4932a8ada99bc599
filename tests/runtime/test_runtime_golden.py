"""Runtime golden tests: scripted conversations replayed through the public ``Runtime`` API,
with every row each step wrote compared against a stored JSON file (tests/runtime/golden/).

The engine's golden files (tests/flow/) pin what a flow says; these pin what the runtime does
with it: keywords, consent, dedupe, quiet hours, wake-ups, opt-outs, erasure and batches, down
to the outbox rows. A change in behaviour shows up as a readable diff. Regenerate on purpose
with ``ENGAGE_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/runtime/test_runtime_golden.py``
(without ENGAGE_TEST_POSTGRES_URL: the SQLite run writes, the PostgreSQL run only compares),
then review ``git diff tests/runtime/golden``.
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from engage.channels.base import Inbound
from engage.config import Settings
from engage.flows_catalog import FlowCatalog
from engage.runtime import InboundOutcome, Runtime
from engage.storage.db import session_scope
from engage.storage.tables import (
    AuditEntry,
    ConsentEntry,
    Message,
    Outbox,
    Participant,
    Response,
    Run,
)

GOLDEN_DIR = Path(__file__).parent / "golden"
REGEN = os.environ.get("ENGAGE_REGEN_GOLDEN") == "1"
T0 = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)  # noon in New York: outside quiet hours
DELETED_RUN = "(deleted run)"
STEP = timedelta(minutes=1)  # the clock moves this much before every inbound message

SMS = ["+15550100001", "+15550100002", "+15550100003"]
CHATS = ["700000001", "700000002"]
SAFER = "More lights at 1200 N Charles St, call me at 410-555-1234 or jane.doe@example.org"
SURVEY_EN = ["hi", "yes", "1", "Canton", "4", "2", "3", "5", "called for help", "4", SAFER,
             "yes", "2", "1", "yes"]
SURVEY_ES = ["hola", "ESPAÑOL", "sí", "21224", "cuatro", "3", "de acuerdo", "5", "2", "1",
             "Más patrullas a pie", "no", "6", "hispano", "sí"]


def says(*texts: str, who: int = 1) -> list[dict[str, Any]]:
    return [{"say": text, "who": who} for text in texts]


# A scenario is a list of steps, each one of:
#   {"say": text, "who": n, "media": n, "hint": lang, "resend": True}  an inbound message
#                                     (resend: the provider delivers the last one again)
#   {"batch": [[who, text], ...]}     messages handled together (one thread per resident)
#   {"start": flow, "who": n, "kind": k, "campaign": id}   runtime.start_run for a campaign
#   {"wake_after": {"hours": h}}      move the clock, then runtime.wake_due(now=clock)
#   {"provider_opt_out": source, "who": n}                 runtime.record_provider_opt_out
#   {"clock": iso}                    set the clock (aware, UTC)
SCENARIOS: dict[str, dict[str, Any]] = {
    "sms_survey_en": {"channel": "sms", "steps": says(*SURVEY_EN)},
    "sms_survey_es": {"channel": "sms", "steps": says(*SURVEY_ES)},
    "sms_consent_declined_then_yes": {
        "channel": "sms", "steps": says("hi", "no", "yes", "1"),
    },
    "sms_stop_mid_survey_then_start": {
        "channel": "sms", "steps": says("hi", "yes", "1", "STOP", "4", "START", "yes", "1"),
    },
    "sms_help_mid_question": {"channel": "sms", "steps": says("hi", "yes", "HELP", "1")},
    "sms_delete": {
        "channel": "sms",
        "steps": [*says("hi", "yes", "1", "Canton", "DELETE"),
                  {"say": "DELETE", "who": 1, "resend": True}, *says("hello again")],
    },
    "sms_language_switch_mid_question": {
        "channel": "sms", "steps": says("hi", "yes", "1", "ESPAÑOL", "Canton", "ENGLISH", "4"),
    },
    "sms_opt_out_own_words": {
        "channel": "sms",
        "steps": says("hi", "yes", "1", "please stop texting me about this",
                      "Canton", "can you stop sending these messages", "yes", "4"),
    },
    "sms_opt_out_own_words_confirmed": {
        "channel": "sms",
        "steps": [*says("hi", "yes", "please stop texting me about this", "yes", "hello"),
                  *says("hi", "stop texting me please", who=2)],
    },
    "sms_who_is_this": {"channel": "sms", "steps": says("who is this?", "yes", "Quién es?")},
    "sms_media_only": {
        "channel": "sms",
        "steps": [*says("hi"), {"say": "", "who": 1, "media": 1}, *says("yes")],
    },
    "sms_duplicate_delivery": {
        "channel": "sms",
        "steps": [*says("hi", "yes"), {"say": "yes", "who": 1, "resend": True}, *says("1")],
    },
    "sms_quiet_hours_campaign_start": {
        "channel": "sms",
        "steps": [
            {"clock": "2026-07-02T03:00:00+00:00"},  # 23:00 in New York
            {"start": "satisfaction", "who": 1, "kind": "campaign", "campaign": 7},
            {"start": "satisfaction", "who": 1, "kind": "campaign", "campaign": 7},
            {"clock": "2026-07-02T12:30:00+00:00"},
            *says("yes", "2"),
        ],
    },
    "sms_reminder_wake_due": {
        "channel": "sms",
        "steps": [*says("hi"), {"wake_after": {"hours": 1}}, {"wake_after": {"hours": 23}},
                  {"wake_after": {"hours": 1}}, *says("yes"), {"wake_after": {"days": 8}}],
    },
    "sms_provider_opt_out": {
        "channel": "sms",
        "steps": [*says("hi", "yes"), {"provider_opt_out": "twilio_21610", "who": 1},
                  {"provider_opt_out": "twilio_21610", "who": 1}, *says("1", "START")],
    },
    # Telegram: the text is what the channel hands the runtime (``channels/telegram_updates``):
    # a button press sends the button's value, /start sends START, /stop STOP, /help HELP,
    # /delete DELETE, "/language es" ESPAÑOL; the app's language comes as ``hint``.
    "telegram_survey_buttons": {
        "channel": "telegram",
        "steps": says("START", "yes", "1", "Canton", "4", "2", "3", "5", "called_for_help",
                      "4", "skip", "no", "2", "1", "yes"),
    },
    "telegram_keywords": {
        "channel": "telegram",
        "steps": [*says("START", "HELP", "yes", "ESPAÑOL", "Canton", "STOP", "hola", "START",
                        "DELETE"),
                  {"say": "START", "who": 2, "hint": "es"}, *says("sí", "ENGLISH", who=2)],
    },
    "sms_batch_interleaved": {
        "channel": "sms",
        "steps": [
            {"batch": [[1, "hi"], [2, "hola"], [3, "who is this?"]]},
            {"batch": [[1, "yes"], [2, "ESPAÑOL"], [3, "yes"], [1, "1"]]},
            {"batch": [[1, "Canton"], [2, "sí"], [3, "STOP"], [2, "21224"]]},
            {"batch": [[1, "HELP"], [2, "cuatro"], [3, "START"]]},
        ],
    },
}


# --- replay ------------------------------------------------------------------------------


@dataclass
class Replay:
    """One scenario against one database: the runtime, the clock and the stable names."""

    runtime: Runtime
    engine: Engine
    clock: Any
    channel: str
    keys: dict[str, str] = field(default_factory=dict)  # participant key -> "resident-n"
    residents: dict[int, str] = field(default_factory=dict)  # participant id -> "resident-n"
    labels: dict[str, dict[int, str]] = field(default_factory=dict)  # table -> id -> label
    counters: dict[str, int] = field(default_factory=dict)  # table -> labels handed out
    live_runs: set[int] = field(default_factory=set)  # run ids in the latest snapshot
    refs: dict[tuple[str, int], tuple[int, str]] = field(default_factory=dict)
    last_inbound: dict[int, Inbound] = field(default_factory=dict)
    provider_ids: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def address(self, who: int) -> str:
        return (SMS if self.channel == "sms" else CHATS)[who - 1]

    def inbound(self, who: int, text: str, media: int = 0, hint: str | None = None) -> Inbound:
        with self.lock:
            n = len(self.provider_ids) + 1
            pid = f"SM{n:04d}" if self.channel == "sms" else f"tg:{1000 + n}"
            self.provider_ids.append(pid)
        return Inbound(channel=self.channel, address=self.address(who),  # type: ignore[arg-type]
                       text=text, provider_id=pid, received_at=self.clock(), media_count=media,
                       language_hint=hint)

    def deliver(self, who: int, inbound: Inbound) -> InboundOutcome:
        self.last_inbound[who] = inbound
        outcome = self.runtime.handle_inbound(inbound)
        if outcome.participant_key is not None:
            with self.lock:
                self.keys.setdefault(outcome.participant_key, f"resident-{who}")
        return outcome

    def label(self, table: str, row_id: int) -> str:
        known = self.labels.setdefault(table, {})
        if row_id not in known:
            self.counters[table] = self.counters.get(table, 0) + 1
            known[row_id] = f"{table}-{self.counters[table]}"
        return known[row_id]

    def forget(self, table: str, row_id: int) -> None:
        """A deleted row's id may come back (SQLite reuses the highest rowid, PostgreSQL's
        sequences never do): a new row under it is a new label on both."""
        self.labels.get(table, {}).pop(row_id, None)
        self.refs.pop((table, row_id), None)
        if table == "outbox":
            self.refs.pop(("key", row_id), None)
        if table == "run":
            for ref, (run_id, _) in list(self.refs.items()):
                if run_id == row_id:
                    self.refs[ref] = (run_id, DELETED_RUN)

    def run_ref(self, table: str, row_id: int | None, run_id: int | None) -> str | None:
        """A row's run (``outbox.run_id`` is no foreign key: erasure deletes the runs and
        leaves the cancelled outbox rows pointing at them). A reference to a deleted run
        stays that, even when SQLite gives the id to a new run."""
        if run_id is None or row_id is None:
            return None
        cached = self.refs.get((table, row_id))
        if cached is not None and cached[0] == run_id:
            return cached[1]
        label = self.label("run", run_id) if run_id in self.live_runs else DELETED_RUN
        self.refs[(table, row_id)] = (run_id, label)
        return label

    def resident(self, participant_id: int | None) -> str | None:
        return None if participant_id is None else self.residents.get(participant_id)

    def participant_id(self, who: int) -> int:
        wanted = {key for key, name in self.keys.items() if name == f"resident-{who}"}
        with Session(self.engine) as session:
            found = session.exec(
                select(Participant).where(col(Participant.key).in_(wanted))).first()
        assert found is not None and found.id is not None
        return found.id


def _outcome(replay: Replay, outcome: InboundOutcome) -> dict[str, Any]:
    """The outcome without raw ids: the run by its label, the outbox rows by their count."""
    return {
        "status": outcome.status,
        "keyword": outcome.keyword,
        "outbox_rows": len(outcome.outbox_ids),
        "run": None if outcome.run_id is None else replay.label("run", outcome.run_id),
        "resident": replay.keys.get(outcome.participant_key or ""),
    }


def run_step(replay: Replay, step: dict[str, Any]) -> Any:
    clock = replay.clock
    if "clock" in step:
        clock.set(datetime.fromisoformat(step["clock"]))
        return None
    if "say" in step:
        clock.advance(seconds=STEP.total_seconds())
        who = step["who"]
        inbound = replay.last_inbound[who] if step.get("resend") else \
            replay.inbound(who, step["say"], step.get("media", 0), step.get("hint"))
        return _outcome(replay, replay.deliver(who, inbound))
    if "batch" in step:
        clock.advance(seconds=STEP.total_seconds())
        return _batch(replay, step["batch"])
    if "start" in step:
        with session_scope(replay.engine) as session:
            p = replay.runtime.participant_for(session, replay.channel, replay.address(step["who"]),
                                               clock())
            replay.keys.setdefault(p.key, f"resident-{step['who']}")
            run = replay.runtime.start_run(
                session=session, participant=p, flow_id=step["start"], kind=step["kind"],
                dedupe_key=f"campaign:{step['campaign']}:{replay.keys[p.key]}", now=clock(),
                campaign_id=step["campaign"])
            run_id = run.id if run is not None else None
        return {"started": None if run_id is None else replay.label("run", run_id)}
    if "wake_after" in step:
        clock.advance(**step["wake_after"])
        return {"woken": replay.runtime.wake_due(now=clock())}
    if "provider_opt_out" in step:
        pid = replay.participant_id(step["who"])
        return {"recorded": replay.runtime.record_provider_opt_out(
            participant_id=pid, source=step["provider_opt_out"], now=clock())}
    raise AssertionError(f"unknown step {step}")


def _batch(replay: Replay, messages: list[list[Any]]) -> list[dict[str, Any]]:
    """Each resident's messages in order on a thread of their own, all released together, so
    the runtime's group commit takes them as one or several batches: the rows must not
    depend on which. Provider ids are handed out in script order before any thread starts."""
    planned = [(i, who, replay.inbound(who, text)) for i, (who, text) in enumerate(messages)]
    outcomes: dict[int, InboundOutcome] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len({who for _, who, _ in planned}))

    def resident(who: int) -> None:
        try:
            barrier.wait()
            for i, w, inbound in planned:
                if w == who:
                    outcomes[i] = replay.deliver(who, inbound)
        except BaseException as exc:  # re-raised on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=resident, args=(who,))
               for who in sorted({who for _, who, _ in planned})]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [_outcome(replay, outcomes[i]) for i in range(len(planned))]


# --- what the database holds, in stable form ------------------------------------------------


def _when(value: datetime | None) -> str | None:
    """ISO in UTC: both backends return aware datetimes, this only fixes the notation."""
    return None if value is None else value.astimezone(UTC).isoformat()


def _dedupe_key(replay: Replay, row_id: int | None, key: str) -> str:
    """Keys carry the scenario's own provider ids (stable) or a run id (renumbered); an
    erased message's key carries a keyed digest, shown as ``erased:<digest>``."""
    key = re.sub(r"erased:[0-9a-f]+", "erased:<digest>", key)
    wake = re.match(r"wake:(\d+):(.*)$", key)
    if wake:
        return f"wake:{replay.run_ref('key', row_id, int(wake.group(1)))}:{wake.group(2)}"
    return key


def _state(run: Run) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(run.state)
    return state


Snapshot = dict[str, dict[str, dict[str, Any]]]  # table -> label -> fields


def _rows(replay: Replay, session: Session) -> Snapshot:
    """Every row the runtime writes, by table and label, as the fields the golden files show.
    Ids never appear (PostgreSQL's sequences skip numbers where SQLite's do not, and SQLite
    reuses a deleted row's id): rows get labels ("outbox-3") in order of first appearance.
    Participants appear as the resident who wrote ("resident-1"), never by key or address."""
    tables: Snapshot = {}
    _forget_deleted(replay, session)
    participants = session.exec(select(Participant).order_by(col(Participant.id))).all()
    for p in participants:
        assert p.id is not None
        if p.id not in replay.residents:
            replay.residents[p.id] = replay.keys.get(p.key, f"unknown-{len(replay.residents) + 1}")
    participants = sorted(participants, key=lambda p: replay.residents[p.id or 0])
    tables["participant"] = {replay.residents[p.id]: {
        "channel": p.channel, "language": p.language, "opted_out": bool(p.opted_out),
        "erased_at": _when(p.erased_at), "has_address": p.address_enc is not None,
        "area": p.area, "district": p.district, "consent_surveys": p.consent_surveys,
        "consent_dialogue": p.consent_dialogue, "consent_quotes": p.consent_quotes,
    } for p in participants if p.id is not None}
    order = _by_resident(replay)
    runs = sorted(session.exec(select(Run)).all(), key=order)
    replay.live_runs = {r.id for r in runs if r.id is not None}
    tables["run"] = {replay.label("run", r.id): {
        "resident": replay.resident(r.participant_id), "flow": r.flow_id, "status": r.status,
        "node": _state(r).get("node"), "language": _state(r).get("language"),
        "held": bool(_state(r).get("opt_out_asked")), "campaign_id": r.campaign_id,
        "wake_at": _when(r.wake_at), "ended_at": _when(r.ended_at),
    } for r in runs if r.id is not None}
    responses = sorted(session.exec(select(Response)).all(), key=order)
    tables["response"] = {replay.label("response", r.id): {
        "resident": replay.resident(r.participant_id),
        "run": replay.run_ref("response", r.id, r.run_id),
        "name": r.name, "type": r.question_type, "value": r.value, "category": r.category,
        "number": r.number, "text": r.text,
        "sentiment": None if r.sentiment is None else round(r.sentiment, 4),
        "area": r.area, "district": r.district, "answered_at": _when(r.answered_at),
    } for r in responses if r.id is not None}
    consents = sorted(session.exec(select(ConsentEntry)).all(), key=order)
    tables["consent"] = {replay.label("consent", c.id): {
        "resident": replay.resident(c.participant_id), "scope": c.scope, "status": c.status,
        "source": c.source, "text_version": c.text_version, "at": _when(c.at),
    } for c in consents if c.id is not None}
    outbox = sorted(session.exec(select(Outbox)).all(), key=order)
    tables["outbox"] = {replay.label("outbox", o.id): {
        "resident": replay.resident(o.participant_id),
        "run": replay.run_ref("outbox", o.id, o.run_id),
        "kind": o.kind, "body": o.body,
        "buttons": json.loads(o.buttons) if o.buttons else None,
        "dedupe_key": _dedupe_key(replay, o.id, o.dedupe_key), "status": o.status,
        "not_before": _when(o.not_before), "error": o.error,
        "own_address": o.address_enc is not None,
    } for o in outbox if o.id is not None}
    messages = sorted(session.exec(select(Message)).all(), key=order)
    tables["message"] = {replay.label("message", m.id): {
        "resident": replay.resident(m.participant_id),
        "run": replay.run_ref("message", m.id, m.run_id),
        "direction": m.direction, "body": m.body, "status": m.status,
        "provider_id": _dedupe_key(replay, None, m.provider_id) if m.provider_id else None,
    } for m in messages if m.id is not None}
    audit = session.exec(select(AuditEntry).order_by(col(AuditEntry.seq))).all()
    tables["audit"] = {replay.label("audit", a.id): {"actor": a.actor, "action": a.action}
                       for a in audit if a.id is not None}
    return tables


_TABLES = {"run": Run, "response": Response, "consent": ConsentEntry, "outbox": Outbox,
           "message": Message}


def _forget_deleted(replay: Replay, session: Session) -> None:
    """Before labelling this step's rows, forget the labels of rows deleted since the last
    step, so that an id SQLite hands out again is not taken for the deleted row."""
    for table, model in _TABLES.items():
        labelled = replay.labels.get(table, {})
        if labelled:
            ids = model.id  # type: ignore[attr-defined]
            present = set(session.exec(select(ids).where(col(ids).in_(list(labelled)))).all())
            for row_id in set(labelled) - present:
                replay.forget(table, row_id)


def _by_resident(replay: Replay) -> Any:
    """Rows of one step ordered by resident, then id: residents handled together (a batch)
    may commit in any order, one resident's rows always come in the order written."""
    def key(row: Any) -> tuple[str, int]:
        return (replay.resident(row.participant_id) or "", row.id or 0)
    return key


def _writes(before: Snapshot, after: Snapshot) -> dict[str, list[dict[str, Any]]]:
    """What one step wrote: new rows in full, changed rows as their changed fields, and
    deleted rows by label."""
    writes: dict[str, list[dict[str, Any]]] = {}
    for table, rows in after.items():
        old = before.get(table, {})
        entries: list[dict[str, Any]] = []
        for label, row in rows.items():
            if label not in old:
                entries.append({"new": label, **row})
            elif row != old[label]:
                entries.append({"changed": label, **{k: v for k, v in row.items()
                                                     if old[label].get(k) != v}})
        entries.extend({"deleted": label} for label in old if label not in rows)
        if entries:
            writes[table] = entries
    return writes


def render(scenario: str, engine: Engine, settings: Settings, catalog: FlowCatalog,
           clock: Any) -> dict[str, Any]:
    spec = SCENARIOS[scenario]
    clock.set(T0)
    runtime = Runtime(engine=engine, settings=settings, catalog=catalog, clock=clock)
    replay = Replay(runtime=runtime, engine=engine, clock=clock, channel=spec["channel"])
    steps: list[dict[str, Any]] = []
    try:
        with Session(engine) as session:
            before = _rows(replay, session)
        for step in spec["steps"]:
            result = run_step(replay, step)
            with Session(engine) as session:
                after = _rows(replay, session)
            steps.append({"do": step, "at": _when(clock()), "result": result,
                          "writes": _writes(before, after)})
            before = after
    finally:
        runtime.close()
    rendered: dict[str, Any] = json.loads(json.dumps(
        {"scenario": scenario, "channel": spec["channel"], "steps": steps}, sort_keys=True))
    return rendered


# --- comparison ---------------------------------------------------------------------------


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Readable differences, one line per leaf: ``steps[3].writes.outbox[0].body: ...``."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found: list[str] = []
        for key in sorted(expected.keys() | actual.keys()):
            where = f"{path}.{key}" if path else key
            if key not in actual:
                found.append(f"{where}: missing (expected {expected[key]!r})")
            elif key not in expected:
                found.append(f"{where}: unexpected {actual[key]!r}")
            else:
                found.extend(differences(expected[key], actual[key], where))
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        found = []
        for i in range(max(len(expected), len(actual))):
            where = f"{path}[{i}]"
            if i >= len(actual):
                found.append(f"{where}: missing (expected {expected[i]!r})")
            elif i >= len(expected):
                found.append(f"{where}: unexpected {actual[i]!r}")
            else:
                found.extend(differences(expected[i], actual[i], where))
        return found
    if expected != actual or type(expected) is not type(actual):
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    return []


def dump(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def compare(name: str, expected: dict[str, Any], actual: dict[str, Any]) -> None:
    """Fail with one line per differing leaf (the first 40), never a wall of JSON."""
    found = differences(expected, actual)
    if found:
        shown = "\n  ".join(found[:40]) + (f"\n  ... {len(found) - 40} more"
                                           if len(found) > 40 else "")
        pytest.fail(f"{name}: the runtime's writes differ from the golden file:\n  {shown}\n"
                    f"If the change is intended: ENGAGE_REGEN_GOLDEN=1, then review the diff.",
                    pytrace=False)


# --- tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_runtime_golden(name: str, db_engine: Engine, settings: Settings,
                        catalog: FlowCatalog, clock: Any) -> None:
    actual = render(name, db_engine, settings, catalog, clock)
    path = GOLDEN_DIR / f"{name}.json"
    if REGEN and db_engine.dialect.name == "sqlite":
        path.write_text(dump(actual), encoding="utf-8")
    if not path.exists():
        pytest.fail(f"{path} is missing: run ENGAGE_REGEN_GOLDEN=1 pytest {__file__}")
    compare(name, json.loads(path.read_text(encoding="utf-8")), actual)


def test_no_stale_golden_files() -> None:
    stored = {p.stem for p in GOLDEN_DIR.glob("*.json")}
    assert stored == set(SCENARIOS), f"golden files and scenarios differ: {stored ^ set(SCENARIOS)}"


def test_a_changed_expectation_is_reported() -> None:
    """The comparison is not vacuous: an edited expectation fails with the edited path."""
    expected = json.loads((GOLDEN_DIR / "sms_survey_en.json").read_text(encoding="utf-8"))
    edited = copy.deepcopy(expected)
    first_reply = edited["steps"][0]["writes"]["outbox"][0]
    first_reply["body"] = "something the runtime never said"
    del edited["steps"][1]["writes"]["consent"]
    found = differences(edited, expected)
    assert found[0].startswith("steps[0].writes.outbox[0].body: expected 'something the")
    assert any(line.startswith("steps[1].writes.consent: unexpected") for line in found)
    assert differences(expected, copy.deepcopy(expected)) == []
    with pytest.raises(pytest.fail.Exception, match=r"steps\[0\]\.writes\.outbox\[0\]\.body"):
        compare("sms_survey_en", edited, expected)
